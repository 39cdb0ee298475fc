//! What one VM's host functions can see: the store data of a wasmtime `Store`.

use std::sync::Arc;

use wasmtime::{Memory, TypedFunc};

use crate::abi::LogLevel;
use crate::host::Shared;
use crate::plugin_config::PluginConfig;

/// The store data of one VM.
pub(crate) struct HostState {
    pub shared: Arc<Shared>,
    /// The guest's allocator (`proxy_on_memory_allocate`, else `malloc`), for returning data.
    pub alloc: Option<TypedFunc<i32, i32>>,
    pub memory: Option<Memory>,
    /// The plugin configuration, readable only while `proxy_on_configure` runs.
    pub plugin_config: Option<PluginConfig>,
    /// Set while `proxy_on_vm_start` runs (the VM configuration is always empty here).
    pub in_vm_start: bool,
    /// The request being filtered, if any.
    pub request: Option<RequestState>,
    /// Log lines kept while configuring (at most [`MAX_CAPTURED_LINES`]), to report why a
    /// configuration was rejected.
    pub captured_logs: Option<Vec<(LogLevel, String)>>,
    /// Metric ids handed out by `proxy_define_metric`.
    pub next_metric_id: u32,
    /// The last request's buffers, kept for the next one (see [`Spare`]).
    pub spare: Spare,
}

impl HostState {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        HostState {
            shared,
            alloc: None,
            memory: None,
            plugin_config: None,
            in_vm_start: false,
            request: None,
            captured_logs: None,
            next_metric_id: 1,
            spare: Spare::default(),
        }
    }
}

/// One HTTP request as the filter sees it, and what the filter did to it.
pub(crate) struct RequestState {
    /// The request header map (names in lower case), as modified by the filter.
    pub headers: HeaderList,
    /// Names the filter added or replaced, in order, without duplicates (the values are empty).
    pub touched: HeaderList,
    /// The request trailers (`HTTP_REQUEST_TRAILERS`).
    pub trailers: Vec<(String, String)>,
    /// The buffered request body the filter can read with `HTTP_REQUEST_BODY`.
    pub body: Vec<u8>,
    /// Whether the filter changed the body buffer.
    pub body_modified: bool,
    pub source_address: String,
    /// The clock for this request, if the caller fixed it.
    pub now_nanos: Option<u64>,
    pub local_response: Option<LocalResponse>,
    /// Properties the filter set (`proxy_set_property`), at most [`MAX_PROPERTIES`] of at most
    /// [`MAX_PROPERTY_BYTES`] each; a name set again replaces its value.
    pub properties: Vec<(String, String)>,
    /// The filter called `proxy_continue_stream(HTTP_REQUEST)`.
    pub continued: bool,
    /// The filter called `proxy_close_stream(HTTP_REQUEST)`.
    pub closed: bool,
}

/// Log lines kept from one `proxy_on_configure`.
pub(crate) const MAX_CAPTURED_LINES: usize = 1024;

/// Bounds on what a filter can park in [`RequestState::properties`] per request.
pub(crate) const MAX_PROPERTIES: usize = 8;
pub(crate) const MAX_PROPERTY_BYTES: usize = 4 * 1024;

/// A response the filter sent with `proxy_send_local_response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocalResponse {
    pub status: u32,
    pub details: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RequestState {
    /// Notes that the filter set `name` (lower case).
    pub(crate) fn touch(&mut self, name: &str) {
        if self.touched.get(name).is_none() {
            self.touched.push(name, "");
        }
    }
}

/// The buffers of a VM's last request, emptied and reused by the next: once a VM is warm, copying
/// a request in and noting what the filter changed allocates nothing. A body buffer larger than
/// [`SPARE_BODY_BYTES`] is not kept, so a few large bodies do not pin megabytes per VM.
#[derive(Debug, Default)]
pub(crate) struct Spare {
    pub headers: HeaderList,
    pub touched: HeaderList,
    pub body: Vec<u8>,
}

/// The largest body buffer a VM keeps for its next request.
pub(crate) const SPARE_BODY_BYTES: usize = 64 * 1024;

impl Spare {
    /// What a finished request leaves for the next: its buffers, but no body buffer larger than
    /// [`SPARE_BODY_BYTES`].
    pub(crate) fn kept(request: RequestState) -> Spare {
        let RequestState { headers, touched, mut body, .. } = request;
        if body.capacity() > SPARE_BODY_BYTES {
            body = Vec::new();
        }
        Spare { headers, touched, body }
    }

    /// The buffers, emptied.
    pub(crate) fn take(&mut self) -> Spare {
        let mut spare = std::mem::take(self);
        spare.headers.clear();
        spare.touched.clear();
        spare.body.clear();
        spare
    }
}

/// Whether the header at `span` of `text` is called `name`: the lengths first, the text only when
/// they agree.
fn span_is_named(text: &str, &(start, n, _): &(usize, usize, usize), name: &str) -> bool {
    n == name.len() && text.get(start..start + n) == Some(name)
}

/// A header list in one buffer: names (lower case) and values back to back in `text`, with their
/// spans in order. A VM reuses one list from request to request, so once warm, copying a
/// request's headers in allocates nothing (a `Vec<(String, String)>` costs two allocations per
/// header, on every request).
#[derive(Debug, Default)]
pub(crate) struct HeaderList {
    text: String,
    /// (start, name length, value length) in `text`.
    spans: Vec<(usize, usize, usize)>,
}

impl HeaderList {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
    }

    /// Appends a header; the name is stored in lower case.
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        if let Some(stored) = self.text.get_mut(start..) {
            stored.make_ascii_lowercase();
        }
        self.text.push_str(value);
        self.spans.push((start, name.len(), value.len()));
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.spans.iter().map(|&(start, n, v)| {
            let name = self.text.get(start..start + n).unwrap_or_default();
            let value = self.text.get(start + n..start + n + v).unwrap_or_default();
            (name, value)
        })
    }

    /// Whether the header at `span` is called `name`.
    fn is_named(&self, span: &(usize, usize, usize), name: &str) -> bool {
        span_is_named(&self.text, span, name)
    }

    fn value_at(&self, &(start, n, v): &(usize, usize, usize)) -> &str {
        self.text.get(start + n..start + n + v).unwrap_or_default()
    }

    /// The first value of `name` (lower case).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.spans.iter().find(|s| self.is_named(s, name)).map(|s| self.value_at(s))
    }

    /// The last value of `name` (lower case), searched from the end: a header the filter set is
    /// there.
    pub(crate) fn get_last(&self, name: &str) -> Option<&str> {
        self.spans.iter().rev().find(|s| self.is_named(s, name)).map(|s| self.value_at(s))
    }

    /// Drops every header called `name` (lower case). Their text stays until the next `clear`.
    pub(crate) fn remove(&mut self, name: &str) {
        // Most removals find nothing (a replaced header the client never sent): no rewrite then.
        if !self.spans.iter().any(|s| self.is_named(s, name)) {
            return;
        }
        let text = &self.text;
        self.spans.retain(|span| !span_is_named(text, span, name));
    }

    pub(crate) fn to_vec(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{HeaderList, RequestState, Spare, SPARE_BODY_BYTES};

    fn finished(body: Vec<u8>) -> RequestState {
        RequestState {
            headers: HeaderList::default(),
            touched: HeaderList::default(),
            trailers: Vec::new(),
            body,
            body_modified: false,
            source_address: String::new(),
            now_nanos: None,
            local_response: None,
            properties: Vec::new(),
            continued: false,
            closed: false,
        }
    }

    #[test]
    fn spare_buffers_are_kept_emptied_and_large_bodies_let_go() {
        let mut request = finished(Vec::with_capacity(1024));
        request.headers.push("a", "1");
        request.touched.push("x", "");
        request.body.extend_from_slice(b"body");
        let mut spare = Spare::kept(request);
        let next = spare.take();
        assert_eq!((next.headers.len(), next.touched.len(), next.body.len()), (0, 0, 0));
        assert!(next.body.capacity() >= 1024);
        let large = Spare::kept(finished(vec![0; SPARE_BODY_BYTES + 1]));
        assert_eq!(large.body.capacity(), 0);
    }

    #[test]
    fn header_list() {
        let mut h = HeaderList::default();
        h.push("Content-Type", "a");
        h.push("x-b", "1");
        h.push("X-B", "2");
        assert_eq!(h.len(), 3);
        assert_eq!(h.get("content-type"), Some("a"));
        assert_eq!((h.get("x-b"), h.get_last("x-b")), (Some("1"), Some("2")));
        h.remove("x-b");
        h.push("x-c", "");
        assert_eq!(h.to_vec(), vec![("content-type".into(), "a".into()), ("x-c".into(), String::new())]);
        h.clear();
        assert_eq!((h.len(), h.get("x-c")), (0, None));
    }
}
