// Message codes of the PostgreSQL v3 wire protocol, named once so no other file spells a magic byte.
//
// Frontend and backend share a byte space with different meanings (`D` is Describe from a client
// but DataRow from a server), so each direction has its own table.

/** What a client sends. */
export const Frontend = {
  Bind: 0x42, // B
  Close: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Describe: 0x44, // D
  Execute: 0x45, // E
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  Parse: 0x50, // P
  /** PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse all use `p`; the auth state says which. */
  PasswordMessage: 0x70, // p
  Query: 0x51, // Q
  Sync: 0x53, // S
  Terminate: 0x58, // X
} as const;

/** What a server sends. */
export const Backend = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  CommandComplete: 0x43, // C
  CopyBothResponse: 0x57, // W
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  DataRow: 0x44, // D
  EmptyQueryResponse: 0x49, // I
  ErrorResponse: 0x45, // E
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
  NoData: 0x6e, // n
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  ParameterDescription: 0x74, // t
  ParameterStatus: 0x53, // S
  ParseComplete: 0x31, // 1
  PortalSuspended: 0x73, // s
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54, // T
} as const;

/** Startup-phase frames carry no type byte; the reader reports them with this type. */
export const Untyped = 0;

/** The int32 after the length in a startup-phase frame. */
export const StartupCode = {
  /** Protocol 3.0: major in the high 16 bits, minor in the low. 3.2 (PG 18) is 196610. */
  Protocol3: 196608,
  CancelRequest: 80877102,
  SSLRequest: 80877103,
  GSSENCRequest: 80877104,
} as const;

/** Cancel key length in bytes: exactly 4 before protocol 3.2, 4 to 256 from it on (PostgreSQL 18). */
export const CancelKeyLength = { min: 4, max: 256 } as const;

/** The int32 that opens every Authentication (`R`) message. */
export const AuthCode = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** Format codes used in Bind and RowDescription. */
export const Format = { Text: 0, Binary: 1 } as const;
export type FormatCode = (typeof Format)[keyof typeof Format];

/** Transaction status carried by ReadyForQuery: idle, in a transaction, in a failed transaction. */
export type TransactionStatus = 'I' | 'T' | 'E';
