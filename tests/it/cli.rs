//! The vpp command.
