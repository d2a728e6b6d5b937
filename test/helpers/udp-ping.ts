// One control `ping` to a chatd at any address, as `nc -u` would send it:
// the reply must come from the address and port asked (a multi-node test
// must know which node answered). Resent every RESEND_MS until the pong or
// the deadline, since nothing else retries a bare datagram.
import { createSocket } from 'node:dgram';

const RESEND_MS = 500;

/** Resolves with the pong object; rejects after timeoutMs without one. */
export async function udpPing(host: string, port: number, id = 'p1', timeoutMs = 5_000): Promise<Record<string, unknown>> {
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    return await new Promise((resolve, reject) => {
      const send = () => sock.send(JSON.stringify({ type: 'ping', id }), port, host);
      const resend = setInterval(send, RESEND_MS);
      const timer = setTimeout(() => {
        clearInterval(resend);
        reject(new Error(`no pong from ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.on('error', (err) => {
        clearInterval(resend);
        clearTimeout(timer);
        reject(err);
      });
      sock.on('message', (buf, rinfo) => {
        if (rinfo.address !== host || rinfo.port !== port) return;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
        } catch {
          return;
        }
        if (msg['type'] !== 'pong' || msg['id'] !== id) return;
        clearInterval(resend);
        clearTimeout(timer);
        resolve(msg);
      });
      send();
    });
  } finally {
    sock.close();
  }
}
