//! What one VM's host functions can see: the store data of a wasmtime `Store`.

use std::sync::Arc;

use wasmtime::{Memory, TypedFunc};

use super::{abi::LogLevel, Shared};

/// The store data of one VM.
pub(crate) struct HostState {
    pub shared: Arc<Shared>,
    /// The guest's allocator (`proxy_on_memory_allocate`, else `malloc`), for returning data.
    pub alloc: Option<TypedFunc<i32, i32>>,
    pub memory: Option<Memory>,
    /// The plugin configuration, readable only while `proxy_on_configure` runs.
    pub plugin_config: Option<Arc<[u8]>>,
    /// Set while `proxy_on_vm_start` runs (the VM configuration is always empty here).
    pub in_vm_start: bool,
    /// The request being filtered, if any.
    pub request: Option<RequestState>,
    /// Log lines kept while configuring, to report why a bundle was rejected.
    pub captured_logs: Option<Vec<(LogLevel, String)>>,
    /// Metric ids handed out by `proxy_define_metric`.
    pub next_metric_id: u32,
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
        }
    }
}

/// One HTTP request as the filter sees it, and what the filter did to it.
pub(crate) struct RequestState {
    /// The request header map (names in lower case), as modified by the filter.
    pub headers: Vec<(String, String)>,
    /// Names the filter added or replaced, in order, without duplicates.
    pub touched: Vec<String>,
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
    /// The filter called `proxy_continue_stream(HTTP_REQUEST)`.
    pub continued: bool,
    /// The filter called `proxy_close_stream(HTTP_REQUEST)`.
    pub closed: bool,
}

/// A response the filter sent with `proxy_send_local_response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocalResponse {
    pub status: u32,
    pub details: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RequestState {
    pub(crate) fn touch(&mut self, name: &str) {
        if !self.touched.iter().any(|t| t == name) {
            self.touched.push(name.to_string());
        }
    }
}
