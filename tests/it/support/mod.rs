//! What several integration tests share to reach outside the test process: a PostgreSQL
//! database of their own (`pg`), real `vpp serve` processes (`replica`), and the bids and
//! schedules the store tests write (`records`).

pub(crate) mod pg;
pub(crate) mod records;
pub(crate) mod replica;
