// Why chatd could not start, told to the operator: one line on stderr that
// names the cause and the fix, one JSON log line (a stack only for the
// unexpected), and an exit code of its own (exit-codes.ts).
import type { Config } from '../lib/config.js';
import { AdminListenError, hostPort } from './admin/listen-error.js';
import { DataDirError } from './data-dir.js';
import { EXIT } from './exit-codes.js';

export interface StartFailure {
  exitCode: number;
  /** The stderr line (after "chatd: ") and the log line's msg. */
  line: string;
  event: string;
  fields: Record<string, unknown>;
  /** An error nobody expected: its stack goes to the log. */
  unexpected: boolean;
}

export function describeStartFailure(err: unknown, config: Config): StartFailure {
  if (err instanceof DataDirError) {
    const locked = err.kind === 'locked';
    return {
      exitCode: locked ? EXIT.dataDirLocked : EXIT.dataDirUnusable,
      line: err.message,
      event: locked ? 'data_dir_locked' : 'data_dir_unusable',
      fields: err.fields,
      unexpected: false,
    };
  }
  if (err instanceof AdminListenError) return adminListenFailure(err);
  const e = err as NodeJS.ErrnoException;
  if (e?.syscall === 'bind') {
    const where = `${config.host}:${config.port}/udp`;
    const fields = { host: config.host, port: config.port, code: e.code };
    const listen = (why: string): StartFailure => ({ exitCode: EXIT.cannotListen, line: `cannot listen on ${where}: ${why}`, event: 'listen_failed', fields, unexpected: false });
    switch (e.code) {
      case 'EADDRINUSE':
        return listen('the port is in use by another program: stop it, or choose another port (--port or "port")');
      case 'EACCES':
        return listen('permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE): choose a port above 1023');
      case 'EADDRNOTAVAIL':
        return listen(`${config.host} is not an address of this machine: choose another (--host or "host")`);
      default:
        return { ...listen(`${e.code ?? 'error'}: ${e.message}`), unexpected: true };
    }
  }
  return {
    exitCode: EXIT.forced,
    line: `failed to start: ${(err as Error)?.message ?? String(err)} (the log has the stack)`,
    event: 'start_failed',
    fields: {},
    unexpected: true,
  };
}

/** The admin HTTP listener (adminHost:adminPort) could not listen: the same exit code as the control port. */
function adminListenFailure(err: AdminListenError): StartFailure {
  const where = `${hostPort(err.host, err.port)}/tcp (the admin listener)`;
  const off = 'or set "adminHost" to "" to turn the admin listener off';
  const why: Record<string, string> = {
    EADDRINUSE: `the port is in use by another program: choose another "adminPort", ${off}`,
    EACCES: `permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE): choose an "adminPort" above 1023, ${off}`,
    EADDRNOTAVAIL: `${err.host} is not an address of this machine: choose another "adminHost", ${off}`,
    ENOTFOUND: `${err.host} does not resolve: choose another "adminHost", ${off}`,
  };
  const known = err.code !== undefined && Object.hasOwn(why, err.code);
  return {
    exitCode: EXIT.cannotListen,
    line: `cannot listen on ${where}: ${known ? why[err.code!] : `${err.code ?? 'error'}: ${err.message}`}`,
    event: 'admin_listen_failed',
    fields: { adminHost: err.host, adminPort: err.port, code: err.code },
    unexpected: !known,
  };
}
