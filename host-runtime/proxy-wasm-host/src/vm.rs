//! One VM: a wasmtime `Store` and an instance of the filter, with its root context created.
//!
//! The callback order is Envoy's: `_initialize`, `proxy_on_context_create(root, 0)`,
//! `proxy_on_vm_start`, `proxy_on_configure`; per request `proxy_on_context_create(ctx, root)`,
//! `proxy_on_request_headers`, `proxy_on_request_body` per chunk, then `proxy_on_done`,
//! `proxy_on_log`, `proxy_on_delete`. Any error out of a guest call (a trap, a deadline passed, a
//! missing export) is a [`VmFault`]: the VM must not be used again.

use std::sync::Arc;

use wasmtime::{InstancePre, Store, TypedFunc};

use crate::abi::{action, LogLevel};
use crate::host::Shared;
use crate::plugin_config::PluginConfig;
use crate::state::{HostState, RequestState, Spare};

const ROOT_CONTEXT_ID: i32 = 1;

/// Gives the guest `budget` from now on: fuel, or epoch ticks beyond the current epoch (a guest
/// past its deadline traps).
fn set_budget(store: &mut Store<HostState>, budget: u64) -> Result<(), VmFault> {
    if store.data().shared.config.limit.uses_fuel() {
        store.set_fuel(budget)?;
    } else {
        store.set_epoch_deadline(budget);
    }
    Ok(())
}

/// The VM can no longer be trusted; it is dropped and replaced.
#[derive(Debug)]
pub(crate) struct VmFault(pub String);

impl From<wasmtime::Error> for VmFault {
    fn from(e: wasmtime::Error) -> Self {
        VmFault(format!("{e:#}"))
    }
}

struct Exports {
    on_context_create: TypedFunc<(i32, i32), ()>,
    on_vm_start: Option<TypedFunc<(i32, i32), i32>>,
    on_configure: Option<TypedFunc<(i32, i32), i32>>,
    on_request_headers: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_request_body: Option<TypedFunc<(i32, i32, i32), i32>>,
    on_request_trailers: Option<TypedFunc<(i32, i32), i32>>,
    on_done: Option<TypedFunc<i32, i32>>,
    on_log: Option<TypedFunc<i32, ()>>,
    on_delete: Option<TypedFunc<i32, ()>>,
}

pub(crate) struct Vm {
    store: Store<HostState>,
    exports: Exports,
    next_context_id: i32,
    /// The configuration generation this VM's root context holds (0: none).
    pub generation: u64,
}

/// What the filter did with one request.
pub(crate) struct Filtered {
    pub request: RequestState,
    /// The request may go on: every callback continued (or the filter resumed the stream).
    pub proceeds: bool,
}

impl Vm {
    pub(crate) fn new(shared: &Arc<Shared>, pre: &InstancePre<HostState>) -> Result<Vm, VmFault> {
        let mut store = Store::new(pre.module().engine(), HostState::new(Arc::clone(shared)));
        set_budget(&mut store, shared.config.limit.configure_budget())?;
        let instance = pre.instantiate(&mut store)?;
        let memory =
            instance.get_memory(&mut store, "memory").ok_or_else(|| VmFault("the module exports no memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "proxy_on_memory_allocate")
            .or_else(|_| instance.get_typed_func::<i32, i32>(&mut store, "malloc"))
            .map_err(|_| VmFault("the module exports no proxy_on_memory_allocate".into()))?;
        store.data_mut().memory = Some(memory);
        store.data_mut().alloc = Some(alloc);

        let exports = Exports {
            on_context_create: instance.get_typed_func(&mut store, "proxy_on_context_create")?,
            on_vm_start: instance.get_typed_func(&mut store, "proxy_on_vm_start").ok(),
            on_configure: instance.get_typed_func(&mut store, "proxy_on_configure").ok(),
            on_request_headers: instance.get_typed_func(&mut store, "proxy_on_request_headers").ok(),
            on_request_body: instance.get_typed_func(&mut store, "proxy_on_request_body").ok(),
            on_request_trailers: instance.get_typed_func(&mut store, "proxy_on_request_trailers").ok(),
            on_done: instance.get_typed_func(&mut store, "proxy_on_done").ok(),
            on_log: instance.get_typed_func(&mut store, "proxy_on_log").ok(),
            on_delete: instance.get_typed_func(&mut store, "proxy_on_delete").ok(),
        };
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ())?;
        }
        exports.on_context_create.call(&mut store, (ROOT_CONTEXT_ID, 0))?;
        if let Some(start) = &exports.on_vm_start {
            store.data_mut().in_vm_start = true;
            let ok = start.call(&mut store, (ROOT_CONTEXT_ID, 0));
            store.data_mut().in_vm_start = false;
            if ok? == 0 {
                return Err(VmFault("the filter refused to start (proxy_on_vm_start returned false)".into()));
            }
        }
        Ok(Vm { store, exports, next_context_id: ROOT_CONTEXT_ID + 1, generation: 0 })
    }

    /// Gives the root context a plugin configuration. `Ok(Err(log))`: the filter refused it; `log`
    /// is what it logged meanwhile.
    #[allow(clippy::type_complexity)]
    pub(crate) fn configure(
        &mut self,
        plugin_config: PluginConfig,
    ) -> Result<Result<(), Vec<(LogLevel, String)>>, VmFault> {
        let Some(on_configure) = &self.exports.on_configure else {
            return Err(VmFault("the module exports no proxy_on_configure".into()));
        };
        let size = i32::try_from(plugin_config.len()).map_err(|_| VmFault("plugin configuration too large".into()))?;
        let budget = self.store.data().shared.config.limit.configure_budget();
        set_budget(&mut self.store, budget)?;
        let data = self.store.data_mut();
        data.plugin_config = Some(plugin_config);
        data.captured_logs = Some(Vec::new());
        let result = on_configure.call(&mut self.store, (ROOT_CONTEXT_ID, size));
        let data = self.store.data_mut();
        data.plugin_config = None;
        let log = data.captured_logs.take().unwrap_or_default();
        if result? != 0 {
            return Ok(Ok(()));
        }
        Ok(Err(log))
    }

    /// The size of the guest's linear memory: the most it has ever used (wasm memory only grows).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.store.data().memory.map_or(0, |m| m.data_size(&self.store))
    }

    /// The buffers of this VM's last request, emptied, to fill for the next one.
    pub(crate) fn take_spare(&mut self) -> Spare {
        self.store.data_mut().spare.take()
    }

    /// Keeps a finished request's buffers (those its outcome did not take).
    pub(crate) fn recycle(&mut self, request: RequestState) {
        self.store.data_mut().spare = Spare::kept(request);
    }

    /// Runs one request through the filter within `budget` (see [`set_budget`]). The body is
    /// delivered in chunks of `chunk` bytes, buffered while the filter pauses, as a proxy does.
    pub(crate) fn filter(
        &mut self,
        request: RequestState,
        full_body: &[u8],
        chunk: usize,
        budget: u64,
    ) -> Result<Filtered, VmFault> {
        set_budget(&mut self.store, budget)?;
        let ctx = self.next_context_id;
        // Context ids are never reused within a VM's life; wrapping would take 2^31 requests.
        self.next_context_id = self.next_context_id.checked_add(1).unwrap_or(ROOT_CONTEXT_ID + 1);
        let num_headers = i32::try_from(request.headers.len()).unwrap_or(i32::MAX);
        self.store.data_mut().request = Some(request);

        let outcome = self.run_callbacks(ctx, num_headers, full_body, chunk);
        // Tear the context down whatever happened; a trap here also condemns the VM.
        let teardown = self.teardown(ctx);
        let request = self.store.data_mut().request.take();
        let proceeds = outcome?;
        teardown?;
        let request = request.ok_or_else(|| VmFault("request state lost".into()))?;
        Ok(Filtered { request, proceeds })
    }

    fn run_callbacks(&mut self, ctx: i32, num_headers: i32, full_body: &[u8], chunk: usize) -> Result<bool, VmFault> {
        self.exports.on_context_create.call(&mut self.store, (ctx, ROOT_CONTEXT_ID))?;
        let num_trailers = self.store.data().request.as_ref().map_or(0, |r| r.trailers.len());
        let num_trailers = i32::try_from(num_trailers).unwrap_or(i32::MAX);
        let has_trailers = num_trailers > 0;
        let end_of_headers = i32::from(full_body.is_empty() && !has_trailers);
        let headers_action = match &self.exports.on_request_headers {
            Some(f) => f.call(&mut self.store, (ctx, num_headers, end_of_headers))?,
            None => action::CONTINUE,
        };
        if self.decided() {
            return Ok(false);
        }
        let mut body_action = action::CONTINUE;
        if !full_body.is_empty() {
            let chunks: Vec<&[u8]> = full_body.chunks(chunk.max(1)).collect();
            let last = chunks.len().saturating_sub(1);
            for (i, piece) in chunks.into_iter().enumerate() {
                if let Some(req) = self.store.data_mut().request.as_mut() {
                    // What a continued chunk held has gone upstream; a paused one stays buffered.
                    if body_action == action::CONTINUE {
                        req.body.clear();
                    }
                    req.body.extend_from_slice(piece);
                }
                let size = self.store.data().request.as_ref().map_or(0, |r| r.body.len());
                let size = i32::try_from(size).unwrap_or(i32::MAX);
                body_action = match &self.exports.on_request_body {
                    Some(f) => f.call(&mut self.store, (ctx, size, i32::from(i == last && !has_trailers)))?,
                    None => action::CONTINUE,
                };
                if self.decided() {
                    return Ok(false);
                }
            }
        }
        let mut trailers_action = action::CONTINUE;
        if has_trailers {
            trailers_action = match &self.exports.on_request_trailers {
                Some(f) => f.call(&mut self.store, (ctx, num_trailers))?,
                None => action::CONTINUE,
            };
            if self.decided() {
                return Ok(false);
            }
        }
        // As in Envoy: what an earlier callback held goes on when a later one continues, so the
        // last callback that ran decides.
        let last_action = if has_trailers {
            trailers_action
        } else if full_body.is_empty() {
            headers_action
        } else {
            body_action
        };
        let resumed = self.store.data().request.as_ref().is_some_and(|r| r.continued);
        Ok(resumed || last_action == action::CONTINUE)
    }

    /// The filter answered locally or reset the stream.
    fn decided(&self) -> bool {
        self.store.data().request.as_ref().is_some_and(|r| r.local_response.is_some() || r.closed)
    }

    fn teardown(&mut self, ctx: i32) -> Result<(), VmFault> {
        if let Some(f) = &self.exports.on_done {
            f.call(&mut self.store, ctx)?;
        }
        if let Some(f) = &self.exports.on_log {
            f.call(&mut self.store, ctx)?;
        }
        if let Some(f) = &self.exports.on_delete {
            f.call(&mut self.store, ctx)?;
        }
        Ok(())
    }
}
