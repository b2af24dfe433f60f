//! Range reads (etcd's `applierV3backend.Range` over `rangeKeys`): the revision checks, the key range,
//! `count`, `limit` and `more`, the min/max revision filters, sorting, `keys_only` and `count_only`.

use crate::error::Error;
use crate::key_value::KeyValue;
use crate::keyspace::{KeyRange, Keyspace};
use crate::requests::{RangeRequest, RangeResponse, ResponseHeader, SortOrder, SortTarget};
use std::cmp::Ordering;

/// The main revision a read of `requested` sees when `current` is the newest one it may see:
/// 0 or less means `current`; newer than `current` or older than the compacted revision is refused.
/// Reading exactly the compacted revision works (etcd's rule).
pub(crate) fn read_revision(keyspace: &Keyspace, requested: i64, current: i64) -> Result<i64, Error> {
    if requested > current {
        return Err(Error::FutureRevision);
    }
    let revision = if requested <= 0 { current } else { requested };
    if revision < keyspace.compacted_revision {
        return Err(Error::Compacted);
    }
    Ok(revision)
}

/// Answers `request` as of `current` (the current revision, or the revision of the write in progress
/// inside a txn); the header carries `current`. The key must not be empty (see `validate_range`).
pub(crate) fn range(
    keyspace: &Keyspace,
    request: &RangeRequest,
    current: i64,
) -> Result<RangeResponse, Error> {
    let revision = read_revision(keyspace, request.revision, current)?;
    let found = keyspace.live_at(KeyRange::new(&request.key, &request.range_end), revision);
    let mut response = RangeResponse {
        header: ResponseHeader { revision: current },
        count: found.len() as i64,
        ..RangeResponse::default()
    };
    if found.is_empty() || request.count_only {
        return Ok(response);
    }
    let fetched = found.len().min(fetch_limit(request));
    let mut kvs: Vec<KeyValue> = found[..fetched]
        .iter()
        .map(|(_, revision)| keyspace.record(*revision).to_key_value(*revision))
        .collect();
    kvs.retain(|kv| passes_filters(request, kv));
    sort(&mut kvs, request.sort_order, request.sort_target);
    if request.limit > 0 && kvs.len() > request.limit as usize {
        kvs.truncate(request.limit as usize);
        response.more = true;
    }
    if request.keys_only {
        kvs.iter_mut().for_each(|kv| kv.value = Vec::new());
    }
    response.kvs = kvs;
    Ok(response)
}

/// How many of the keys found must be read: all of them when sorting or filtering, else one more
/// than the limit (to know whether there is `more`).
fn fetch_limit(request: &RangeRequest) -> usize {
    let filtered = request.min_mod_revision != 0
        || request.max_mod_revision != 0
        || request.min_create_revision != 0
        || request.max_create_revision != 0;
    if request.sort_order != SortOrder::None || filtered || request.limit <= 0 {
        return usize::MAX;
    }
    usize::try_from(request.limit).unwrap_or(usize::MAX).saturating_add(1)
}

fn passes_filters(request: &RangeRequest, kv: &KeyValue) -> bool {
    let too_new = |maximum: i64, value: i64| maximum != 0 && value > maximum;
    let too_old = |minimum: i64, value: i64| minimum != 0 && value < minimum;
    !(too_new(request.max_mod_revision, kv.mod_revision)
        || too_old(request.min_mod_revision, kv.mod_revision)
        || too_new(request.max_create_revision, kv.create_revision)
        || too_old(request.min_create_revision, kv.create_revision))
}

/// etcd's sorting: results come in key order; a target other than `Key` with no order sorts
/// ascending. Ties keep key order (a stable sort; etcd's Go sort is an insertion sort, so stable, up
/// to 12 results, and orders ties arbitrarily beyond).
fn sort(kvs: &mut [KeyValue], order: SortOrder, target: SortTarget) {
    let order = match (order, target) {
        (SortOrder::None, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    let compare = |left: &KeyValue, right: &KeyValue| -> Ordering {
        match target {
            SortTarget::Key => left.key.cmp(&right.key),
            SortTarget::Version => left.version.cmp(&right.version),
            SortTarget::Create => left.create_revision.cmp(&right.create_revision),
            SortTarget::Mod => left.mod_revision.cmp(&right.mod_revision),
            SortTarget::Value => left.value.cmp(&right.value),
        }
    };
    match order {
        SortOrder::Descend => kvs.sort_by(|left, right| compare(right, left)),
        _ => kvs.sort_by(compare),
    }
}
