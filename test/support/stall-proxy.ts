import * as net from 'node:net';

/**
 * A TCP proxy in front of a real server that can be told to stall: while stalled it accepts connections
 * and reads what clients send, but forwards nothing either way (a server that stopped answering, a
 * half-dead load balancer). Existing connections stall too. `resume()` forwards again (what was held is
 * dropped, as after a network partition; `forward()` keeps the connections).
 */
export interface StallProxy {
  port: number;
  url(scheme: string, rest?: string): string;
  stall(): void;
  /** Forwards again and drops the connections that stalled (clients reconnect). */
  resume(): void;
  /** Forwards again on the same connections; what was sent during the stall is lost, so those requests never get their answers. */
  forward(): void;
  close(): Promise<void>;
}

export async function startStallProxy(target: { host: string; port: number }): Promise<StallProxy> {
  let stalled = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        if (!stalled) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: (scheme, rest = '') => `${scheme}://127.0.0.1:${port}${rest}`,
    stall: () => void (stalled = true),
    forward: () => void (stalled = false),
    resume: () => {
      stalled = false;
      // connections that stalled mid-conversation are out of step: drop them, clients reconnect
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
