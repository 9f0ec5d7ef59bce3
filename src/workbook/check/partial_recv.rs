//! The checks of 02 `partial-recv`: a reader's server whose `recvall()`
//! loops until the whole message has come, and fails (closes, does not
//! reply) when the peer closes mid-message.

use crate::workbook::check::suite::Suite;

/// 02's suites: the program as a server.
pub static SUITES: &[Suite] = &[];
