declare module 'apache-md5' {
  /** Apache's apr1 MD5 crypt: with a salt (or a whole "$apr1$…" hash) it returns the hash to compare. */
  export default function md5(password: string, salt?: string): string;
}
