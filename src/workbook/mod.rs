//! The workbook's machinery: the one list of experiments and the
//! `workbook` command that runs them. It sits above the experiments.

pub mod registry;
pub mod runner;
