//! CloudWatch Logs tail (being written).
