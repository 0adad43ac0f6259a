export {
  startRfc2217Server,
  ComPortCode,
  SERVER_CODE_OFFSET,
  type Rfc2217Board,
  type Rfc2217Server,
  type Rfc2217ServerOptions,
} from './rfc2217-server.js';
