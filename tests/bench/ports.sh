# ports.sh - sourced by echo.sh and misses.sh: loopback ports for the
# servers they start. Uses $python.

# A free loopback port, from the kernel (free when asked; nothing else on
# this machine is expected to grab it in the next second).
free_port() {
	"$python" -c 'import socket; s = socket.socket(); \
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until something accepts connections on port $1 (5 s at most).
wait_port() {
	"$python" -c 'import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)' "$1"
}
