// HTTP and server-sent events against tcplab serve, for its tests (node:http only).
import { request } from 'node:http';

export interface Reply { status: number; body: string; headers: Record<string, string | string[] | undefined> }

export function http(port: number, path: string, o: { method?: string; host?: string; headers?: Record<string, string>; body?: string; addr?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ agent: false, host: o.addr ?? '127.0.0.1', port, path, method: o.method ?? 'GET', headers: { host: o.host ?? `127.0.0.1:${port}`, ...o.headers } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** An event-stream reader: every event so far, and a wait for one that satisfies a predicate. */
export function events(port: number) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const got: { event: string; data: any }[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  const req = request({ host: '127.0.0.1', port, path: '/events', headers: { host: `127.0.0.1:${port}` } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buf += c;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (ev && data) got.push({ event: ev, data: JSON.parse(data) });
        for (const w of waiters.splice(0)) w();
      }
    });
  });
  req.on('error', () => {});
  req.end();
  const until = async (pred: (e: { event: string; data: any }) => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = got.find(pred);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no such event within ${ms} ms; got ${got.map((e) => e.event).join(' ')}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 100); });
    }
  };
  return { got, until, close: () => req.destroy() };
}

