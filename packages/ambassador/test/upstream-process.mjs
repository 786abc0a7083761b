// A real upstream in its own process, so that a test can SIGKILL it: answers every request, after
// reading its body, with { upstream, bytes }. argv: name, port (0: any). Prints "listening <port>".
import { createServer } from 'node:http';

const [name = 'upstream', port = '0'] = process.argv.slice(2);
const server = createServer((request, response) => {
  let bytes = 0;
  request.on('data', (chunk) => {
    bytes += chunk.length;
  });
  request.on('end', () => {
    const body = JSON.stringify({ upstream: name, bytes });
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
  });
});
server.keepAliveTimeout = 30_000;
server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('disconnect', () => process.exit(0));
