// HTTP for the labs whose story is an HTTP server or proxy (keepalive, proxy): a Node HTTP server in a
// host's namespace, and one request/response over a peer's socket.
import type { CaseContext } from '../src/lab/types.js';
import type { LabHost } from '../src/lab/stack.js';
import type { PeerClient } from '../src/peer/client.js';
import { monoMs } from '../src/lab/clock.js';
import { spawnIn, type Proc } from '../src/testbed/proc.js';

/**
 * A Node HTTP server (node:http, HTTP/1.1 keep-alive as Node does it) answering every request with a small
 * text body. keepAliveTimeoutMs is how long it keeps an idle connection before closing it (Node: 5 s).
 */
const HTTP_SERVER_JS = `
const http = require('node:http');
const [addr, port, kat] = process.argv.slice(-3);
const srv = http.createServer((req, res) => {
  const body = 'hello from ' + addr + ':' + port + ' ' + req.url + '\\n';
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
srv.keepAliveTimeout = Number(kat);
srv.listen(Number(port), addr, () => console.log('listening ' + addr + ':' + port));
process.on('SIGTERM', () => process.exit(0));
`;

export async function nodeHttpServer(ctx: CaseContext, host: Pick<LabHost, 'name' | 'netns'>, addr: string, port: number, keepAliveTimeoutMs = 5000): Promise<Proc> {
  const p = ctx.use(spawnIn(host, process.execPath, ['-e', HTTP_SERVER_JS, addr, String(port), String(keepAliveTimeoutMs)]));
  await p.waitFor(/^listening /, 5000);
  return p;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection after the response (read to EOF). */
  eof: boolean;
}

/** Sends one request on a peer's connected socket and reads one response (Content-Length, else to EOF). */
export async function httpExchange(peer: PeerClient, sock: number, request: string, timeoutMs = 3000): Promise<HttpResponse> {
  await peer.call('send', { sock, data: request, timeoutMs });
  let buf = '';
  let eof = false;
  const end = monoMs() + timeoutMs;
  for (;;) {
    const head = buf.indexOf('\r\n\r\n');
    if (head >= 0) {
      const lines = buf.slice(0, head).split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
      const body = buf.slice(head + 4);
      if ((len !== undefined && Buffer.byteLength(body) >= len) || eof) return { status, headers, body, eof };
    } else if (eof) {
      throw new Error(`http: connection closed before a full response header (${buf.length} bytes)`);
    }
    const left = Math.ceil(end - monoMs());
    if (left <= 0) throw new Error(`http: no complete response within ${timeoutMs} ms (${buf.length} bytes so far)`);
    const r = await peer.call('recv', { sock, max: 65536, timeoutMs: left });
    buf += r.data;
    if (r.eof) eof = true;
  }
}

/** After a response read to its Content-Length: waits briefly for the server's FIN; true when it came. */
export async function readEof(peer: PeerClient, sock: number, timeoutMs: number): Promise<boolean> {
  const r = await peer.try('recv', { sock, max: 65536, timeoutMs });
  return r.ok && r.eof;
}
