// Listen addresses as written in the config: `host:port` or `[v6]:port`.

export function splitHostPort(listen: string): [host: string, port: number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}
