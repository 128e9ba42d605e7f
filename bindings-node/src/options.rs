//! `SessionIo.start(options)`: the option object is core's [`Options`] in camelCase.
//! Core reads it (unknown keys refused by name, wrong types named, every default) and
//! checks every value; this file only hands it over.

use std::net::SocketAddr;
use std::sync::Arc;

use sessionio::express::ExpressBackend;
use sessionio::options::{KeyStyle, Options};
use sessionio::{Builder, Value};

use crate::errors::IntoNapi;

/// What `start()` needs: the engine's builder and the address its server binds.
pub(crate) struct StartOptions {
    pub builder: Builder,
    pub addr: SocketAddr,
}

/// Reads the option object; `express_store` is express-session's store (the JS layer
/// takes it out of `expressSession.store`), for `expressSession` without `redisUrl`.
pub(crate) fn parse(
    options: Value,
    express_store: Option<Arc<dyn ExpressBackend>>,
) -> napi::Result<StartOptions> {
    let options = Options::from_value(options, KeyStyle::CamelCase).napi()?;
    let addr = options.addr().napi()?;
    let builder = options.into_builder(express_store).napi()?;
    Ok(StartOptions { builder, addr })
}
