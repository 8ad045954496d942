import { createServer, type Server } from 'node:net';

/**
 * A further `listen.https` address for the one TLS server: it only accepts TCP and hands each
 * socket to that server as its own accept would (`emit('connection')`, the path PROXY-protocol
 * sockets already take). So the front door (caps, counted across every port; PROXY headers), SNI
 * and certificate swaps, ALPN to h2, timeouts and drain are the same code for every port, and a
 * socket still knows the port it arrived on (`localPort`). Accept failures (EMFILE) go to the TLS
 * server's 'error', where the front door logs them like its own.
 */
export function createMorePort(tls: Server): Server {
  const door = createServer((socket) => tls.emit('connection', socket));
  door.on('error', (err: NodeJS.ErrnoException) => {
    if (err.syscall === 'accept') tls.emit('error', err);
  });
  return door;
}
