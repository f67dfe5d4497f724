// HTTP/1.1 responses read off a keep-alive socket by the benchmarks' lean clients (no parser library
// on the hot path of a load generator). The socket's encoding is latin1: one character per byte, so
// content-length and chunk sizes count characters.

export type NextResponse = { status: number; body: string; rest: string } | 'incomplete' | 'unreadable';

/**
 * The first whole response in `buffer` and what follows it; 'incomplete' while it is still arriving;
 * 'unreadable' when it has neither a length nor chunks (the server is broken).
 */
export function nextResponse(buffer: string): NextResponse {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return 'incomplete';
  const header = buffer.slice(0, end).toLowerCase();
  const status = Number(header.slice(9, 12));
  const length = /\r\ncontent-length: *(\d+)/.exec(header);
  if (length) {
    const total = end + 4 + Number(length[1]);
    if (buffer.length < total) return 'incomplete';
    return { status, body: buffer.slice(end + 4, total), rest: buffer.slice(total) };
  }
  if (header.includes('\r\ntransfer-encoding: chunked')) {
    const last = buffer.indexOf('\r\n0\r\n\r\n', end);
    if (last < 0) return 'incomplete';
    return { status, body: dechunk(buffer.slice(end + 4, last + 2)), rest: buffer.slice(last + 7) };
  }
  return 'unreadable';
}

function dechunk(chunks: string): string {
  let body = '';
  for (let at = 0; at < chunks.length; ) {
    const line = chunks.indexOf('\r\n', at);
    const size = Number.parseInt(chunks.slice(at, line), 16);
    if (!(size > 0)) break;
    body += chunks.slice(line + 2, line + 2 + size);
    at = line + 2 + size + 2;
  }
  return body;
}
