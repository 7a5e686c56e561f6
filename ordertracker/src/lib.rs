//! The operator's tool as a library: what each subcommand does (`ops`), how it is printed
//! (`render`) and how an execution's history reads (`history`). The `ordertracker` binary is its
//! command line; the simulator runs `ops::plan` and `ops::carry_out` as its operator.

pub mod history;
pub mod ops;
pub mod render;
