export {
  startRfc2217Server,
  LOCAL_DOWNLOAD_RESET,
  LOCAL_HARD_RESET,
  ComPortCode,
  SERVER_CODE_OFFSET,
  type Rfc2217Board,
  type Rfc2217Server,
  type Rfc2217ServerOptions,
  type Rfc2217ResetMode,
  type Rfc2217TrafficEvent,
  type LocalStep,
} from './rfc2217-server.js';
