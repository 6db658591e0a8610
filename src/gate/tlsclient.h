// gate tlsclient: TLS for the gateway's connections to backends (the
// gateway -> instance hop of a mesh with mutual TLS), with OpenSSL on memory
// BIOs: the link keeps doing its own nonblocking socket reads and writes, and
// the TLS engine only transforms bytes between buffers.
//
//   ciphertext read from the socket --\                /--> plaintext replies (parser)
//                                      gate_tls_pump
//   ciphertext to write to the socket <-/               \--- plaintext requests (queued)
//
// The client verifies the backend's certificate against the CA file (always:
// there is no way to turn it off here), checks its name when server_name is
// set (backends are dialed by address, so without it any certificate the CA
// signed is accepted), and presents its own certificate when one is set
// (mutual TLS: the instance logs the gateway's identity).
//
// Threads: a gate_tls is read-only once made and shared by every loop; a
// gate_tls_conn belongs to its link's loop. Ownership: each conn holds a
// reference to the SSL_CTX, so it may outlive the gate_tls.
#ifndef GATE_TLSCLIENT_H
#define GATE_TLSCLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
typedef struct gate_tls gate_tls;
typedef struct gate_tls_conn gate_tls_conn;

// ca_file required; cert_file and key_file together or neither; server_name
// may be NULL. Reads the files now. 0, or -1 with a reason in err.
int gate_tls_create(gate_tls **out, const char *ca_file, const char *cert_file,
                    const char *key_file, const char *server_name, char *err, size_t errcap);
void gate_tls_free(gate_tls *t);

// A client connection's TLS state (the handshake starts at the first pump).
// NULL when out of memory.
gate_tls_conn *gate_tls_conn_new(gate_tls *t);
void gate_tls_conn_free(gate_tls_conn *c);

// Moves bytes: everything in cipher_in is taken; the handshake advances;
// decrypted data is appended to plain_in; once the handshake is done all of
// plain_out is encrypted; what the peer must receive is appended to
// cipher_out. Returns 0, or -1: close the connection (handshake failed, the
// certificate was refused, protocol error, or the peer closed the session).
int gate_tls_pump(gate_tls_conn *c, struct evbuffer *cipher_in, struct evbuffer *plain_in,
                  struct evbuffer *plain_out, struct evbuffer *cipher_out);
// True once the handshake completed.
bool gate_tls_ready(const gate_tls_conn *c);

#endif
