//! GridStore on DynamoDB (being written).
