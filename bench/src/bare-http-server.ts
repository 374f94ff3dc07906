import http from 'node:http';

/**
 * The limit of a round trip: a bare node:http server on loopback answering every request with a tiny body,
 * in a process of its own as `tillsync serve` is. Prints `listening on <url>` once it listens.
 */
const server = http.createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '11' });
    response.end('{"ok":true}');
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
});
process.once('SIGTERM', () => process.exit(0));
