//! The workbook's machinery: the one list of experiments, the `workbook`
//! command that runs them, and `workbook check`, which grades a reader's
//! own program. It sits above the experiments.

pub mod check;
pub mod registry;
pub mod runner;
