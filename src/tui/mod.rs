//! The terminal dashboard (owned by the dashboard work; stub).
