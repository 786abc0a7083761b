import { once } from 'node:events';
import type { AddressInfo, Server } from 'node:net';
import type { ListenAddress } from '../config/schemas.js';

/**
 * Binds `server` (net, http, https, http2 or tls) to `address` and resolves with the address it
 * got (port 0: the one the OS chose). A bind error (port taken, address not local) rejects.
 */
export async function listen(server: Server, address: ListenAddress): Promise<AddressInfo> {
  server.listen(address.port, address.host);
  // `once` rejects on 'error' and removes both listeners whichever comes first.
  await once(server, 'listening');
  return server.address() as AddressInfo;
}
