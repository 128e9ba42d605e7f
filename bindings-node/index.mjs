// ESM entry: the same module as `require('sessionio')`.
import sessionio from './index.js';

export const {
  SessionIo,
  Session,
  Socket,
  DEFAULT_ACK_TIMEOUT_MS,
  HandlerError,
  SessionIoError,
  InvalidConfigError,
  SessionNotFoundError,
  SessionExpiredError,
  InvalidSessionIdError,
  StoreUnavailableError,
  ConflictError,
  InvalidValueError,
  ServerError,
  TooManySessionsError,
  ErrorCode,
} = sessionio;
export default sessionio;
