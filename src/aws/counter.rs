//! An SDK interceptor that counts the HTTP requests a client sends, per operation
//! (`Query`, `BatchWriteItem`, `PutObject`, `Publish`, ...; the SDK's own operation name),
//! and for DynamoDB the items written and their write units. Retries count as requests:
//! this is what a dashboard poll or a Lambda run really costs. Attach it with
//! `aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone())` (the same
//! counter may go on several clients).

use super::attrs::STATUS_KEY;
use aws_sdk_dynamodb::config::ConfigBag;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// DynamoDB on-demand bills one write request unit per started KiB of the item written
/// (for every index the item is in as well).
pub const WRITE_UNIT_BYTES: u64 = 1024;

#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    tally: Arc<Mutex<Tally>>,
}

#[derive(Debug, Clone, Default)]
struct Tally {
    /// (service, operation) -> requests.
    requests: BTreeMap<(String, String), u64>,
    writes: DynamoWrites,
}

/// The DynamoDB writes seen, sized as DynamoDB sizes items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DynamoWrites {
    /// Items put, updated or deleted (each item of a BatchWriteItem counts).
    pub items: u64,
    /// Their sizes, summed (for an UpdateItem: its key and the values it sets).
    pub item_bytes: u64,
    /// Write request units: one per started KiB of each item, once more for an item in
    /// the status index (it carries `status_key`).
    pub write_units: u64,
    /// The largest item.
    pub largest_item_bytes: u64,
}

impl RequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests per operation since the last reset.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, operation), n) in &self.lock().requests {
            *out.entry(operation.clone()).or_default() += n;
        }
        out
    }

    /// Requests per (service, operation) since the last reset.
    pub fn by_service(&self) -> BTreeMap<(String, String), u64> {
        self.lock().requests.clone()
    }

    pub fn total(&self) -> u64 {
        self.lock().requests.values().sum()
    }

    /// The DynamoDB writes since the last reset.
    pub fn dynamo_writes(&self) -> DynamoWrites {
        self.lock().writes
    }

    /// Returns the counts per operation and starts again from zero.
    pub fn take(&self) -> BTreeMap<String, u64> {
        let counts = self.snapshot();
        *self.lock() = Tally::default();
        counts
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "gridwatch::RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(m) => (m.service().to_string(), m.name().to_string()),
            None => {
                let target = request
                    .headers()
                    .get("x-amz-target")
                    .map(|t| t.rsplit('.').next().unwrap_or(t).to_string());
                (
                    String::new(),
                    target.unwrap_or_else(|| request.method().to_string()),
                )
            }
        };
        let writes = if service.eq_ignore_ascii_case("dynamodb") {
            request
                .body()
                .bytes()
                .and_then(|body| serde_json::from_slice::<Value>(body).ok())
                .map(|body| written_items(&operation, &body))
        } else {
            None
        };
        let mut tally = self.lock();
        *tally.requests.entry((service, operation)).or_default() += 1;
        for written in writes.into_iter().flatten() {
            let w = &mut tally.writes;
            w.items += 1;
            w.item_bytes += written.bytes;
            w.largest_item_bytes = w.largest_item_bytes.max(written.bytes);
            w.write_units += written.units();
        }
        Ok(())
    }
}

/// One item a DynamoDB write request writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    bytes: u64,
    /// In the status index (it carries `status_key`): written twice.
    indexed: bool,
    /// Part of a TransactWriteItems: billed twice.
    transactional: bool,
}

impl Written {
    fn units(self) -> u64 {
        self.bytes.div_ceil(WRITE_UNIT_BYTES).max(1) * if self.indexed { 2 } else { 1 } * if self.transactional { 2 } else { 1 }
    }
}

/// Every item a DynamoDB write request writes.
fn written_items(operation: &str, body: &Value) -> Vec<Written> {
    let sized = |item: &Value| Written { bytes: item_size(item), indexed: item.get(STATUS_KEY).is_some(), transactional: false };
    match operation {
        "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|tables| tables.values())
            .filter_map(Value::as_array)
            .flatten()
            .map(|request| match request.get("PutRequest") {
                Some(put) => sized(&put["Item"]),
                None => sized(&request["DeleteRequest"]["Key"]),
            })
            .collect(),
        "PutItem" => vec![sized(&body["Item"])],
        "DeleteItem" => vec![sized(&body["Key"])],
        // The stored item is not in the request: its key and the values set stand for it.
        "UpdateItem" => vec![updated(body)],
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|action| {
                let written = if let Some(put) = action.get("Put") {
                    sized(&put["Item"])
                } else if let Some(delete) = action.get("Delete") {
                    sized(&delete["Key"])
                } else {
                    updated(action.get("Update")?)
                };
                Some(Written { transactional: true, ..written })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An UpdateItem's item, sized by its key and the values it sets.
fn updated(update: &Value) -> Written {
    Written {
        bytes: item_size(&update["Key"]) + attribute_values_size(&update["ExpressionAttributeValues"]),
        indexed: false,
        transactional: false,
    }
}

/// An item's size as DynamoDB counts it: attribute names plus values.
fn item_size(item: &Value) -> u64 {
    item.as_object().map_or(0, |attrs| {
        attrs
            .iter()
            .map(|(name, value)| name.len() as u64 + value_size(value))
            .sum()
    })
}

fn attribute_values_size(values: &Value) -> u64 {
    values
        .as_object()
        .map_or(0, |values| values.values().map(value_size).sum())
}

/// One attribute value in DynamoDB's JSON (`{"S": ...}`, `{"N": ...}`, `{"M": ...}`, ...):
/// strings and binaries by length, numbers about one byte per two digits plus one, maps
/// and lists 3 bytes plus one per element plus the elements.
fn value_size(value: &Value) -> u64 {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let text_len = |v: &Value| v.as_str().map_or(0, |s| s.len() as u64);
    let number = |v: &Value| {
        let digits = v.as_str().map_or(0, |s| {
            s.trim_start_matches(['-', '0', '.'])
                .chars()
                .filter(char::is_ascii_digit)
                .count() as u64
        });
        digits.div_ceil(2) + 1
    };
    fn list(v: &Value) -> &[Value] {
        v.as_array().map_or(&[], Vec::as_slice)
    }
    match kind.as_str() {
        "S" | "B" => text_len(inner),
        "N" => number(inner),
        "BOOL" | "NULL" => 1,
        "SS" | "BS" => list(inner).iter().map(text_len).sum(),
        "NS" => list(inner).iter().map(number).sum(),
        "L" => 3 + list(inner).iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        "M" => {
            3 + inner.as_object().map_or(0, |m| {
                m.iter()
                    .map(|(k, v)| 1 + k.len() as u64 + value_size(v))
                    .sum()
            })
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_are_sized_as_dynamodb_sizes_them() {
        // "location" (8) + "sub_1" (5) + "load_mw" (7) + 12.5 (3 digits: 2 + 1 = 3 bytes).
        assert_eq!(
            item_size(&json!({"location": {"S": "sub_1"}, "load_mw": {"N": "12.5"}})),
            8 + 5 + 7 + 3
        );
        // A map: 3 + per entry 1 + name + value.
        assert_eq!(
            value_size(&json!({"M": {"a": {"BOOL": true}}})),
            3 + 1 + 1 + 1
        );
        assert_eq!(
            value_size(&json!({"L": [{"S": "xy"}, {"NULL": true}]})),
            3 + (1 + 2) + (1 + 1)
        );
    }

    #[test]
    fn batch_writes_count_every_item_and_index_copies() {
        let big = "x".repeat(1500);
        let body = json!({"RequestItems": {"T": [
            {"PutRequest": {"Item": {"location": {"S": "a"}, "v": {"S": "small"}}}},
            {"PutRequest": {"Item": {"location": {"S": "a"}, "v": {"S": big}, "status_key": {"S": "warning"}}}},
            {"DeleteRequest": {"Key": {"location": {"S": "a"}}}}
        ]}});
        let items = written_items("BatchWriteItem", &body);
        assert_eq!(items.len(), 3);
        assert_eq!((items[1].bytes, items[1].indexed), (8 + 1 + 1 + 1500 + 10 + 7, true));
        let units: u64 = items.iter().map(|w| w.units()).sum();
        assert_eq!(
            units,
            1 + 2 * 2 + 1,
            "a 1.5 KiB indexed item is 2 units, twice"
        );
        assert!(written_items("Query", &json!({})).is_empty());
    }

    #[test]
    fn transactions_bill_each_item_twice() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "T", "Item": {"location": {"S": "a"}}}},
            {"Put": {"TableName": "T", "Item": {"location": {"S": "a"}, "status_key": {"S": "alarm"}}, "ConditionExpression": "x"}},
            {"Delete": {"TableName": "T", "Key": {"location": {"S": "b"}}}},
            {"ConditionCheck": {"TableName": "T", "Key": {"location": {"S": "c"}}}}
        ]});
        let items = written_items("TransactWriteItems", &body);
        assert_eq!(items.len(), 3, "a condition check writes nothing: {items:?}");
        assert_eq!(items.iter().map(|w| w.units()).collect::<Vec<_>>(), [2, 4, 2]);
    }
}
