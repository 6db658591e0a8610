# Client-side sources of the nrpc library and their tests, included by
# src/rpc/CMakeLists.txt (paths relative to src/rpc).
set(NRPC_CLIENT_SOURCES jwt.c status.c client.c client_pool.c client_pool_call.c client_pool_ep.c client_pool_prober.c client_lb.c client_sock.c stub.c retry.c)
set(NRPC_CLIENT_TESTS jwt_test status_test client_test client_lb_test client_pool_test)
