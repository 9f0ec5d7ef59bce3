//! The instruments: what an experiment calls, and the contract every
//! experiment fulfils. Nothing here imports an experiment or the
//! workbook's machinery.

pub mod args;
pub mod capture;
pub mod cli;
pub mod deadline;
pub mod error;
pub mod experiment;
pub mod kernel;
pub mod names;
pub mod narrate;
pub mod netns;
pub mod out_file;
pub mod peers;
pub mod plot;
pub mod privilege;
pub mod process;
pub mod pyfmt;
pub mod report;
pub mod run;
pub mod schema;
pub mod sequence;
pub mod server;
pub mod tally;
pub mod watch;
