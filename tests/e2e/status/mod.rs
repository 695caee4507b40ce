//! `sigward status` (table, `--json`, `--prometheus`), the metrics file,
//! `sigward scan`, and the systemd watchdog.
//!
//! Every agent here gets its control socket, pid file and metrics file
//! inside its fixture's temporary directory.
//!
//! By topic: [`report`] (what `sigward status` shows, in every format),
//! [`metrics`] (the metrics file), [`scan`] (`sigward scan`) and
//! [`watchdog`] (the systemd watchdog).

mod metrics;
mod report;
mod scan;
mod watchdog;
