//! Xinyang fixtures.
