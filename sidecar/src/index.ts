export { ConfigError } from './config/config-error.js';
export { loadProxyConfig, type ProxyConfig, type ProxyOptions } from './config/proxy-config.js';
export { createLogger, type Logger } from './observe/log.js';
export { type RunningProxy, startProxy } from './proxy/server.js';
