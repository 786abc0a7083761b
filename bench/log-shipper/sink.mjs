// A null Elasticsearch bulk sink: answers every _bulk with success and counts the documents.
// Runs as its own process so it does not share an event loop with what is measured.
import { createServer } from 'node:http';

let docs = 0;
const port = Number(process.argv[2]);
const ES_HEADERS = { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' };
createServer((request, response) => {
  if (request.url === '/_sink/count') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ docs }));
    return;
  }
  if (request.url?.includes('_bulk')) {
    const items = [];
    // Like Elasticsearch: with filter_path (ours asks for errors and items.*.status) only those fields come back.
    const filtered = new URL(request.url, 'http://sink').searchParams.has('filter_path');
    let rest = '';
    request.setEncoding('utf8');
    let expectAction = true;
    const take = (line) => {
      if (!line) return;
      if (expectAction) {
        const kind = line.startsWith('{"create"') ? 'create' : 'index';
        items.push(filtered ? `{"${kind}":{"status":201}}` : `{"${kind}":{"status":201,"result":"created"}}`);
      }
      expectAction = !expectAction;
    };
    request.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) take(line);
    });
    request.on('end', () => {
      take(rest);
      docs += items.length;
      response.writeHead(200, ES_HEADERS);
      response.end(`{${filtered ? '' : '"took":1,'}"errors":false,"items":[${items.join(',')}]}`);
    });
    return;
  }
  request.resume();
  response.writeHead(200, ES_HEADERS);
  response.end(
    '{"name":"null-sink","cluster_name":"bench","version":{"number":"8.19.0","build_flavor":"default","lucene_version":"9.12.0","minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}',
  );
}).listen(port, '127.0.0.1');
