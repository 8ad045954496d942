import tls from 'node:tls';
import { readFileSync } from 'node:fs';
const dir = process.argv[2];
const cert = readFileSync(dir+'/a.crt'), key = readFileSync(dir+'/a.key');
const ctx = tls.createSecureContext({cert,key});
const srv = tls.createServer({cert,key, SNICallback(name, cb){ console.log('sni', name, typeof this, this && this.constructor && this.constructor.name, this && this.alpnProtocol); setTimeout(()=>cb(null, ctx), 10); },
  ALPNCallback({servername, protocols}){ console.log('alpn', servername, protocols); return protocols[0]; }}, s=>{ console.log('secure', s.alpnProtocol); s.end(); });
srv.listen(0, '127.0.0.1', () => {
  const c = tls.connect({port: srv.address().port, host:'127.0.0.1', servername:'x.test', ALPNProtocols:['acme-tls/1'], rejectUnauthorized:false}, ()=>{ console.log('client alpn', c.alpnProtocol); c.end(); srv.close(); });
});
