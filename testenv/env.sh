#!/usr/bin/env bash
# testenv/env.sh - sandboxed MariaDB servers on loopback for binflow's tests,
# demo and benchmarks.
#
# Every server lives in its own directory $REPO/.testenv/<name>/ (data, my.cnf,
# pid file, socket, error log) and is managed only through its own pid file:
# this script never touches any other mysqld/mariadbd on the machine, and never
# uses systemd or the Debian package's service.
#
#   env.sh install                       install MariaDB from Debian packages if missing
#   env.sh start [upstream|downstream|replica|all ...]   (default: upstream downstream)
#   env.sh stop [names ...]              (default: all)
#   env.sh status
#   env.sh reset                         stop all and delete .testenv/
#   env.sh freeze NAME / thaw NAME       SIGSTOP / SIGCONT a MariaDB server (a
#                                        hung upstream, for stall tests)
#   env.sh sql NAME [mariadb args ...]   mariadb client as root on NAME's socket
#   env.sh replica-from FILE POS         point the replica at the upstream binlog
#   env.sh env                           print export lines (ports, sockets)
#   env.sh install-chromium              install Debian's chromium if missing (the status page test)
#   env.sh psql [psql args ...]          psql as the superuser on the postgres server's socket
#
# Ports: BINFLOW_UPSTREAM_PORT (3407), BINFLOW_DOWNSTREAM_PORT (3408),
# BINFLOW_REPLICA_PORT (3409), BINFLOW_POSTGRES_PORT (3410). Ready timeout:
# BINFLOW_TESTENV_TIMEOUT (60 s).
#
# PostgreSQL: the server named postgres (a downstream store) is Debian's
# postgresql package, installed by install when missing (with its service
# kept from starting, as for MariaDB). Its cluster lives in
# .testenv/postgres/data, initialised and run as a non-root OS user
# (PostgreSQL refuses root): as root, the package's postgres user, who then
# owns .testenv/postgres; otherwise the calling user. It listens on
# 127.0.0.1 only, its unix socket is in a directory only that user can
# enter, and it has the role binflow (password binflow, CREATEDB) with the
# database binflow. start and stop manage it by the pid in its
# postmaster.pid, like the MariaDB servers.
#
# TLS: start generates, once per testenv directory, a test CA and a server
# certificate for 127.0.0.1/localhost (plus a client certificate) with openssl
# in .testenv/tls/, and runs upstream and downstream with ssl_ca/ssl_cert/
# ssl_key: TLS is available, not required. The user binflow_tls (password
# binflow, same privileges as binflow) is created there with REQUIRE SSL, and
# binflow_x509 (the same) with REQUIRE SUBJECT '/CN=binflow_tls' AND ISSUER
# '/CN=binflow testenv CA': only the client certificate in .testenv/tls/
# lets it in.
# A running server whose my.cnf would now differ (say, from before TLS) or
# that has no TLS (have_ssl != YES) is restarted once by start.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${BINFLOW_TESTENV_DIR:-$REPO/.testenv}"
ALL_SERVERS=(upstream downstream replica postgres)
# The MariaDB servers; postgres is managed by its own functions below.
MARIADB_SERVERS=(upstream downstream replica)
READY_TIMEOUT="${BINFLOW_TESTENV_TIMEOUT:-60}"
USER_NAME=binflow
USER_PASSWORD=binflow
TLS_USER_NAME=binflow_tls
# X509_USER_NAME must present the client certificate (subject CN
# $TLS_USER_NAME) signed by the test CA.
X509_USER_NAME=binflow_x509
X509_REQUIRE="REQUIRE SUBJECT '/CN=$TLS_USER_NAME' AND ISSUER '/CN=binflow testenv CA'"
TLS_DIR="$ROOT/tls"

log() { printf 'testenv: %s\n' "$*" >&2; }
die() {
	printf 'testenv: error: %s\n' "$*" >&2
	exit 1
}

# find_bin NAME... prints the first of the given programs found on PATH or in
# the usual sbin/bin directories (a non-root PATH may lack /usr/sbin).
find_bin() {
	local name dir
	for name in "$@"; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
		for dir in /usr/sbin /usr/bin /sbin /usr/local/sbin /usr/local/bin; do
			if [[ -x "$dir/$name" ]]; then
				echo "$dir/$name"
				return 0
			fi
		done
	done
	return 1
}

valid_name() {
	case "$1" in
	upstream | downstream | replica | postgres) return 0 ;;
	*) return 1 ;;
	esac
}

port_of() {
	case "$1" in
	upstream) echo "${BINFLOW_UPSTREAM_PORT:-3407}" ;;
	downstream) echo "${BINFLOW_DOWNSTREAM_PORT:-3408}" ;;
	replica) echo "${BINFLOW_REPLICA_PORT:-3409}" ;;
	postgres) echo "${BINFLOW_POSTGRES_PORT:-3410}" ;;
	esac
}

server_id_of() {
	case "$1" in
	upstream) echo 1 ;;
	downstream) echo 2 ;;
	replica) echo 3 ;;
	esac
}

dir_of() { echo "$ROOT/$1"; }
cnf_of() { echo "$ROOT/$1/my.cnf"; }
pidfile_of() { echo "$ROOT/$1/mariadbd.pid"; }
errlog_of() { echo "$ROOT/$1/error.log"; }

# socket_of NAME: unix socket paths are limited to 107 bytes; when the repo
# lives in a deep directory, fall back to a short per-repo directory in /tmp.
socket_of() {
	local sock="$ROOT/$1/mariadbd.sock"
	if ((${#sock} > 100)); then
		local h
		h="$(printf '%s' "$ROOT" | md5sum | cut -c1-10)"
		sock="/tmp/binflow-testenv-$h/$1.sock"
	fi
	echo "$sock"
}

# ---------------------------------------------------------------- install

have_mariadb() {
	find_bin mariadbd mysqld >/dev/null &&
		find_bin mariadb mysql >/dev/null &&
		find_bin mariadb-admin mysqladmin >/dev/null &&
		find_bin mariadb-install-db mysql_install_db >/dev/null
}

cmd_install() {
	local packages=()
	if have_mariadb && [[ "${BINFLOW_TESTENV_FORCE_INSTALL:-}" != 1 ]]; then
		log "MariaDB already installed ($(find_bin mariadbd mysqld))"
	else
		packages+=(mariadb-server mariadb-client)
	fi
	# openssl makes the servers' TLS certificates.
	find_bin openssl >/dev/null || packages+=(openssl)
	# PostgreSQL, a downstream store (the package's own cluster is never started).
	have_postgres || packages+=(postgresql)
	((${#packages[@]})) || return 0
	if [[ "$(id -u)" != 0 ]]; then
		die "${packages[*]} not installed and installing needs root: apt-get install ${packages[*]}"
	fi
	command -v apt-get >/dev/null 2>&1 || die "${packages[*]} not installed and apt-get is not available"

	# Keep the Debian package's own service from starting (it would take port
	# 3306): a policy-rc.d that exits 101 makes invoke-rc.d refuse every start.
	local policy=/usr/sbin/policy-rc.d backup=""
	if [[ -e "$policy" ]]; then
		backup="$(mktemp /usr/sbin/policy-rc.d.binflow-backup.XXXXXX)"
		cp -p "$policy" "$backup"
	fi
	# shellcheck disable=SC2064 # expand now: restore exactly what we saved
	trap "restore_policy '$policy' '$backup'" EXIT
	printf '#!/bin/sh\n# written by binflow testenv/env.sh during apt-get install\nexit 101\n' >"$policy"
	chmod 755 "$policy"

	log "installing ${packages[*]} from Debian packages"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"

	restore_policy "$policy" "$backup"
	trap - EXIT
	have_mariadb || die "MariaDB packages installed but mariadbd/mariadb/mariadb-admin/mariadb-install-db not found"
	find_bin openssl >/dev/null || die "openssl package installed but openssl not found"
	have_postgres || die "postgresql package installed but its initdb/postgres/psql/pg_isready not found under /usr/lib/postgresql/*/bin"
	log "MariaDB installed: $("$(find_bin mariadbd mysqld)" --version)"
	log "PostgreSQL installed: $("$(pg_bindir)/postgres" --version)"
}

restore_policy() {
	local policy="$1" backup="$2"
	if [[ -n "$backup" ]]; then
		[[ -e "$backup" ]] && mv -f "$backup" "$policy"
	else
		rm -f "$policy"
	fi
}

# ---------------------------------------------------------------- config

# write_cnf NAME [DEST [PORT]]: NAME's my.cnf, to DEST (default: its place)
# with PORT (default: from the environment).
write_cnf() {
	local name="$1" dest="${2:-$(cnf_of "$1")}" dir port sock
	dir="$(dir_of "$name")"
	port="${3:-$(port_of "$name")}"
	sock="$(socket_of "$name")"
	mkdir -p "$dir/data" "$dir/tmp" "$(dirname "$sock")"
	{
		echo "# generated by testenv/env.sh on every start; edits are lost"
		echo "[mariadbd]"
		if [[ "$(id -u)" == 0 ]]; then
			echo "user = root"
		fi
		echo "datadir = $dir/data"
		echo "tmpdir = $dir/tmp"
		echo "socket = $sock"
		echo "pid-file = $(pidfile_of "$name")"
		echo "log-error = $(errlog_of "$name")"
		echo "port = $port"
		echo "bind-address = 127.0.0.1"
		echo "skip-name-resolve"
		echo "server_id = $(server_id_of "$name")"
		echo "innodb_buffer_pool_size = 256M"
		echo "innodb_flush_log_at_trx_commit = 2"
		echo "sync_binlog = 0"
		echo "max_connections = 500"
		echo "max_allowed_packet = 64M"
		echo "character-set-server = utf8mb4"
		echo "collation-server = utf8mb4_general_ci"
		echo "default-time-zone = '+00:00'"
		echo "relay_log = $dir/relay/relay-bin"
		if serves_tls "$name"; then
			# The fingerprint makes new certificates a config change.
			echo "# tls certificate sha256 $(sha256sum <"$TLS_DIR/server-cert.pem" | cut -c1-16)"
			echo "ssl_ca = $TLS_DIR/ca.pem"
			echo "ssl_cert = $TLS_DIR/server-cert.pem"
			echo "ssl_key = $TLS_DIR/server-key.pem"
		fi
		case "$name" in
		upstream)
			echo "log_bin = $dir/binlog/mysql-bin"
			echo "log_bin_index = $dir/binlog/mysql-bin.index"
			echo "binlog_format = ROW"
			echo "binlog_row_image = FULL"
			echo "binlog_row_metadata = FULL"
			echo "log_slave_updates = ON"
			echo "gtid_strict_mode = ON"
			echo "binlog_expire_logs_seconds = 0"
			echo "max_binlog_size = 64M"
			;;
		downstream)
			echo "skip-log-bin"
			;;
		replica)
			echo "skip-log-bin"
			echo "skip-slave-start"
			echo "slave_parallel_threads = 2"
			echo "slave_parallel_mode = optimistic"
			;;
		esac
		echo
		echo "[client]"
		echo "socket = $sock"
		echo "user = root"
		echo "default-character-set = utf8mb4"
	} >"$dest.tmp"
	mv -f "$dest.tmp" "$dest"
	case "$name" in
	upstream) mkdir -p "$dir/binlog" ;;
	esac
	mkdir -p "$dir/relay"
}

# ---------------------------------------------------------------- tls

# serves_tls NAME: NAME runs with TLS available.
serves_tls() {
	case "$1" in
	upstream | downstream) return 0 ;;
	*) return 1 ;;
	esac
}

# ensure_tls generates the test CA, the servers' certificate (127.0.0.1 and
# localhost) and a client certificate into $TLS_DIR, unless they are there.
ensure_tls() {
	local f missing=0
	for f in ca.pem server-cert.pem server-key.pem client-cert.pem client-key.pem; do
		[[ -s "$TLS_DIR/$f" ]] || missing=1
	done
	((missing)) || return 0
	local openssl
	openssl="$(find_bin openssl)" || die "openssl not found (it makes the servers' TLS certificates); run: testenv/env.sh install"
	log "generating a test CA and TLS certificates in $TLS_DIR"
	local tmp
	tmp="$(mktemp -d "$ROOT/tls.tmp.XXXXXX")"
	# && throughout: set -e does not apply inside an if condition.
	if ! (
		cd "$tmp" && umask 077 &&
			"$openssl" req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=binflow testenv CA" \
				-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
				-keyout ca-key.pem -out ca.pem &&
			printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
				"extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext &&
			"$openssl" req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" -keyout server-key.pem -out server.csr &&
			"$openssl" x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca-key.pem -set_serial 2 \
				-extfile server.ext -out server-cert.pem &&
			printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
				"extendedKeyUsage=clientAuth" >client.ext &&
			"$openssl" req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$TLS_USER_NAME" -keyout client-key.pem -out client.csr &&
			"$openssl" x509 -req -sha256 -days 3650 -in client.csr -CA ca.pem -CAkey ca-key.pem -set_serial 3 \
				-extfile client.ext -out client-cert.pem &&
			"$openssl" verify -CAfile ca.pem server-cert.pem client-cert.pem &&
			rm -f ./*.csr ./*.ext &&
			chmod 644 ca.pem server-cert.pem client-cert.pem
	) >"$ROOT/tls-openssl.log" 2>&1; then
		tail -n 20 "$ROOT/tls-openssl.log" >&2 || true
		rm -rf "$tmp"
		die "could not generate the TLS certificates (full log: $ROOT/tls-openssl.log)"
	fi
	rm -rf "$TLS_DIR"
	mv "$tmp" "$TLS_DIR"
}

# have_ssl NAME prints the running server's have_ssl (YES, DISABLED, NO).
have_ssl() {
	client "$1" -N -B -e "SHOW GLOBAL VARIABLES LIKE 'have_ssl'" 2>/dev/null | cut -f2
}

# stale_config NAME: the running NAME must be restarted, because the my.cnf
# this script writes now differs from the one it runs with (ignoring the OS
# user line and keeping its port), or it should serve TLS and does not.
stale_config() {
	local name="$1" want same=0
	want="$(mktemp "$(dir_of "$name")/my.cnf.want.XXXXXX")"
	write_cnf "$name" "$want" "$(current_port "$name")"
	if [[ -f "$(cnf_of "$name")" ]] && diff -q <(grep -v '^user = ' "$(cnf_of "$name")") <(grep -v '^user = ' "$want") >/dev/null; then
		same=1
	fi
	rm -f "$want"
	if ((!same)); then
		log "$name: its my.cnf has changed since it started; restarting it to apply"
		return 0
	fi
	if serves_tls "$name" && [[ "$(have_ssl "$name")" != YES ]]; then
		log "$name: running without TLS (have_ssl is not YES); restarting it"
		return 0
	fi
	return 1
}

# check_tls NAME: a freshly started NAME must have TLS.
check_tls() {
	local name="$1" state
	serves_tls "$name" || return 0
	state="$(have_ssl "$name")"
	[[ "$state" == YES ]] && return 0
	log "$name: TLS did not come up (have_ssl = ${state:-unknown}); error log tail:"
	grep -i -E 'ssl|tls' "$(errlog_of "$name")" 2>/dev/null | tail -n 10 >&2 || true
	die "$name: TLS is not available with $TLS_DIR; delete that folder to regenerate the certificates, then start again"
}

# ---------------------------------------------------------------- processes

# pid_of NAME prints the pid from NAME's pid file if that process is alive and
# is a server started with NAME's my.cnf (so a recycled pid is never touched).
pid_of() {
	local name="$1" pidfile pid cmdline
	pidfile="$(pidfile_of "$name")"
	[[ -s "$pidfile" ]] || return 1
	pid="$(tr -dc '0-9' <"$pidfile")"
	[[ -n "$pid" ]] || return 1
	[[ -r "/proc/$pid/cmdline" ]] || return 1
	cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
	[[ "$cmdline" == *"--defaults-file=$(cnf_of "$name")"* ]] || return 1
	echo "$pid"
}

ping_server() {
	local name="$1"
	[[ -f "$(cnf_of "$name")" ]] || return 1
	"$ADMIN" --defaults-file="$(cnf_of "$name")" --connect-timeout=2 ping >/dev/null 2>&1
}

# client NAME [args...]: mariadb client as root over NAME's socket.
client() {
	local name="$1"
	shift
	"$CLIENT" --defaults-file="$(cnf_of "$name")" "$@"
}

init_datadir() {
	local name="$1" dir
	dir="$(dir_of "$name")"
	if [[ -f "$dir/data/.binflow-initialized" ]]; then
		return 0
	fi
	log "$name: initializing data directory $dir/data"
	rm -rf "$dir/data"
	mkdir -p "$dir/data"
	local args=(--defaults-file="$(cnf_of "$name")" --auth-root-authentication-method=normal
		--skip-test-db --datadir="$dir/data")
	if [[ "$(id -u)" == 0 ]]; then
		args+=(--user=root)
	fi
	if ! "$INSTALL_DB" "${args[@]}" >"$dir/install-db.log" 2>&1; then
		tail -n 40 "$dir/install-db.log" >&2 || true
		die "$name: mariadb-install-db failed (full log: $dir/install-db.log)"
	fi
	touch "$dir/data/.binflow-initialized"
}

create_users() {
	local name="$1" u
	local sqltext="SET SESSION sql_log_bin = 0;"
	for u in "'$USER_NAME'@'127.0.0.1'" "'$USER_NAME'@'localhost'"; do
		sqltext+="CREATE USER IF NOT EXISTS $u IDENTIFIED BY '$USER_PASSWORD';"
		sqltext+="ALTER USER $u IDENTIFIED BY '$USER_PASSWORD';"
		sqltext+="GRANT ALL PRIVILEGES ON *.* TO $u WITH GRANT OPTION;"
	done
	if serves_tls "$name"; then
		for u in "'$TLS_USER_NAME'@'127.0.0.1'" "'$TLS_USER_NAME'@'localhost'"; do
			sqltext+="CREATE USER IF NOT EXISTS $u IDENTIFIED BY '$USER_PASSWORD' REQUIRE SSL;"
			sqltext+="ALTER USER $u IDENTIFIED BY '$USER_PASSWORD' REQUIRE SSL;"
			sqltext+="GRANT ALL PRIVILEGES ON *.* TO $u WITH GRANT OPTION;"
		done
		for u in "'$X509_USER_NAME'@'127.0.0.1'" "'$X509_USER_NAME'@'localhost'"; do
			sqltext+="CREATE USER IF NOT EXISTS $u IDENTIFIED BY '$USER_PASSWORD' $X509_REQUIRE;"
			sqltext+="ALTER USER $u IDENTIFIED BY '$USER_PASSWORD' $X509_REQUIRE;"
			sqltext+="GRANT ALL PRIVILEGES ON *.* TO $u WITH GRANT OPTION;"
		done
	fi
	sqltext+="FLUSH PRIVILEGES;"
	client "$name" -e "$sqltext" || die "$name: could not create user $USER_NAME"
}

start_one() {
	local name="$1" pid
	if pid="$(pid_of "$name")"; then
		# Alive but not answering: it may still be starting up.
		if ! ping_server "$name" && ! wait_ready "$name" "$pid"; then
			die "$name: process $pid is alive but does not answer; run: testenv/env.sh stop $name"
		fi
		if ! stale_config "$name"; then
			log "$name: already running (pid $pid, port $(current_port "$name"))"
			create_users "$name"
			return 0
		fi
		stop_one "$name"
	fi

	local port
	port="$(port_of "$name")"
	if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
		die "$name: invalid port '$port'"
	fi
	if port_in_use "$port"; then
		die "$name: port $port on 127.0.0.1 is already in use by another process (not this testenv's $name); stop it or choose another port with BINFLOW_$(echo "$name" | tr '[:lower:]' '[:upper:]')_PORT"
	fi

	write_cnf "$name"
	init_datadir "$name"
	rm -f "$(pidfile_of "$name")" "$(socket_of "$name")"

	local errlog
	errlog="$(errlog_of "$name")"
	local offset=0
	[[ -f "$errlog" ]] && offset="$(stat -c %s "$errlog")"
	log "$name: starting on 127.0.0.1:$(port_of "$name")"
	# setsid + all fds redirected: the server must not hold the caller's
	# terminal or pipes (make, go test's exec) open.
	setsid "$MARIADBD" --defaults-file="$(cnf_of "$name")" </dev/null >>"$errlog" 2>&1 9>&- &
	local launcher=$!
	if ! wait_ready "$name" "$launcher"; then
		log "$name: server exited or did not answer within ${READY_TIMEOUT}s; error log tail:"
		tail -c +"$((offset + 1))" "$errlog" 2>/dev/null | tail -n 40 >&2 || true
		if pid="$(pid_of "$name")"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		exit 1
	fi
	check_tls "$name"
	create_users "$name"
	log "$name: ready (pid $(pid_of "$name" || echo '?'), port $(port_of "$name"), socket $(socket_of "$name"))"
}

# port_in_use PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_ready NAME PID: wait until the server answers a ping. PID is the
# launched process; if it exits with an error before the server is up, give up
# early (setsid may have forked: then it exits 0 and the pid file counts).
wait_ready() {
	local name="$1" pid="$2" deadline launcher_done=0 rc
	deadline=$((SECONDS + READY_TIMEOUT))
	while ((SECONDS < deadline)); do
		if ping_server "$name" && pid_of "$name" >/dev/null; then
			return 0
		fi
		if ((!launcher_done)) && ! kill -0 "$pid" 2>/dev/null; then
			launcher_done=1
			rc=0
			wait "$pid" 2>/dev/null || rc=$?
			# rc 127: not our child (an already running server): keep waiting.
			if ((rc != 0 && rc != 127)); then
				return 1
			fi
		fi
		if ((launcher_done)) && ! pid_of "$name" >/dev/null; then
			sleep 1
			pid_of "$name" >/dev/null || return 1
		fi
		sleep 0.2
	done
	return 1
}

stop_one() {
	local name="$1" pid
	if ! pid="$(pid_of "$name")"; then
		rm -f "$(pidfile_of "$name")"
		log "$name: not running"
		return 0
	fi
	log "$name: stopping (pid $pid)"
	"$ADMIN" --defaults-file="$(cnf_of "$name")" --connect-timeout=5 --shutdown-timeout=60 shutdown >/dev/null 2>&1 ||
		kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "$name: still running after 60s, sending SIGKILL to $pid"
			kill -KILL "$pid" 2>/dev/null || true
			deadline=$((SECONDS + 10))
		fi
		sleep 0.1
	done
	rm -f "$(pidfile_of "$name")"
	log "$name: stopped"
}

current_port() {
	local name="$1" cnf port
	cnf="$(cnf_of "$name")"
	if [[ -f "$cnf" ]]; then
		port="$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$cnf" | head -n1)"
		[[ -n "$port" ]] && {
			echo "$port"
			return
		}
	fi
	port_of "$name"
}

# ---------------------------------------------------------------- postgres

PG_DB=binflow

# pg_bindir prints the bin directory of the newest PostgreSQL installed from
# Debian packages (/usr/lib/postgresql/VERSION/bin), or the one holding
# initdb on PATH.
pg_bindir() {
	local d
	d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
	if [[ -n "$d" && -x "$d/initdb" && -x "$d/postgres" ]]; then
		echo "$d"
		return 0
	fi
	d="$(find_bin initdb)" || return 1
	d="$(dirname "$(readlink -f "$d")")"
	[[ -x "$d/postgres" ]] || return 1
	echo "$d"
}

have_postgres() {
	local d
	d="$(pg_bindir)" || return 1
	[[ -x "$d/initdb" && -x "$d/postgres" && -x "$d/psql" && -x "$d/pg_isready" ]]
}

pg_dir() { echo "$ROOT/postgres"; }
pg_data() { echo "$ROOT/postgres/data"; }
pg_log() { echo "$ROOT/postgres/server.log"; }

# pg_socket_dir: the unix socket directory (path length limits as socket_of).
pg_socket_dir() {
	local d="$ROOT/postgres/run"
	if ((${#d} > 90)); then
		local h
		h="$(printf '%s' "$ROOT" | md5sum | cut -c1-10)"
		d="/tmp/binflow-testenv-$h/postgres"
	fi
	echo "$d"
}

# pg_os_user: who runs the server. PostgreSQL refuses to run as root: as
# root, the package's postgres user (created if missing); otherwise the caller.
pg_os_user() {
	if [[ "$(id -u)" != 0 ]]; then
		id -un
		return
	fi
	if ! id postgres >/dev/null 2>&1; then
		log "creating the system user postgres to run the postgres server"
		useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres ||
			die "could not create the system user postgres (PostgreSQL refuses to run as root)"
	fi
	echo postgres
}

# as_pg CMD...: run CMD as the server's OS user.
as_pg() {
	if [[ "$(id -u)" == 0 ]]; then
		runuser -u "$PG_USER" -- "$@"
	else
		"$@"
	fi
}

# pg_opts: the server's settings, passed on its command line (so that they
# are in /proc/PID/cmdline, which identifies the server, and a change is
# seen as a config change).
pg_opts() {
	local port="${1:-$(port_of postgres)}"
	echo "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$(pg_socket_dir)" \
		"-c unix_socket_permissions=0700 -c hba_file=$(pg_dir)/pg_hba.conf -c max_connections=300" \
		"-c shared_buffers=128MB -c fsync=off -c full_page_writes=off -c timezone=UTC -c log_timezone=UTC" \
		"-c logging_collector=off"
}

# pg_pid prints the postmaster's pid if it is alive and runs our data dir.
pg_pid() {
	local pidfile pid cmdline
	pidfile="$(pg_data)/postmaster.pid"
	[[ -s "$pidfile" ]] || return 1
	pid="$(head -n 1 "$pidfile" | tr -dc '0-9')"
	[[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
	cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
	[[ "$cmdline" == *"-D $(pg_data) "* ]] || return 1
	echo "$pid"
}

# pg_running_port prints the port of the running server (from its command line).
pg_running_port() {
	local pid
	pid="$(pg_pid)" || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" | sed -n 's/^port=\([0-9]*\)$/\1/p' | head -n 1
}

pg_current_port() { pg_running_port || port_of postgres; }

pg_psql() {
	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_socket_dir)" -p "$(pg_current_port)" -U postgres "$@"
}

pg_ping() { as_pg "$PG_BIN/pg_isready" -q -h "$(pg_socket_dir)" -p "$(pg_current_port)" -U postgres >/dev/null 2>&1; }

pg_init() {
	local dir data
	dir="$(pg_dir)"
	data="$(pg_data)"
	mkdir -p "$dir"
	if [[ "$(id -u)" == 0 ]]; then
		chown "$PG_USER:" "$dir"
		as_pg test -x "$dir" || die "postgres: $PG_USER cannot enter $dir; make its parent directories searchable (chmod o+x) or set BINFLOW_TESTENV_DIR"
	fi
	chmod 700 "$dir"
	{
		echo "# generated by testenv/env.sh on every start; edits are lost"
		echo "local all all trust"
		echo "host all all 127.0.0.1/32 scram-sha-256"
	} >"$dir/pg_hba.conf"
	[[ "$(id -u)" == 0 ]] && chown "$PG_USER:" "$dir/pg_hba.conf"
	if [[ -f "$data/.binflow-initialized" ]]; then
		return 0
	fi
	log "postgres: initializing data directory $data (as OS user $PG_USER)"
	rm -rf "$data"
	if ! as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
		>"$dir/initdb.log" 2>&1; then
		tail -n 40 "$dir/initdb.log" >&2 || true
		die "postgres: initdb failed (full log: $dir/initdb.log)"
	fi
	as_pg touch "$data/.binflow-initialized"
}

pg_start() {
	PG_BIN="$(pg_bindir)" || die "PostgreSQL not found; run: testenv/env.sh install"
	PG_USER="$(pg_os_user)"
	local pid opts
	opts="$(pg_opts)"
	if pid="$(pg_pid)"; then
		local running
		running="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
		if [[ "$running" == *"$(pg_opts "$(pg_running_port)") "* ]] || [[ "$running" == *"$(pg_opts "$(pg_running_port)")" ]]; then
			wait_pg_ready "$pid" || die "postgres: process $pid is alive but does not answer; run: testenv/env.sh stop postgres"
			log "postgres: already running (pid $pid, port $(pg_running_port))"
			pg_create_role
			return 0
		fi
		log "postgres: its settings have changed since it started; restarting it to apply"
		pg_stop
	fi
	local port
	port="$(port_of postgres)"
	if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
		die "postgres: invalid port '$port'"
	fi
	if port_in_use "$port"; then
		die "postgres: port $port on 127.0.0.1 is already in use by another process (not this testenv's postgres); stop it or choose another port with BINFLOW_POSTGRES_PORT"
	fi
	pg_init
	local sockdir
	sockdir="$(pg_socket_dir)"
	mkdir -p "$sockdir"
	if [[ "$(id -u)" == 0 ]]; then chown "$PG_USER:" "$sockdir"; fi
	chmod 700 "$sockdir"
	local logf offset=0
	logf="$(pg_log)"
	[[ -f "$logf" ]] && offset="$(stat -c %s "$logf")"
	log "postgres: starting on 127.0.0.1:$port"
	# setsid + all fds redirected, as for mariadbd. The log is opened by
	# the server's user (the directory is theirs). runuser (as root) stays
	# the server's parent: its own fds go to /dev/null too, or it would
	# hold the caller's stdout open (a caller reading it to EOF, as
	# testenv.StartServer does, would wait for the server to exit).
	# shellcheck disable=SC2086 # opts is a list of words
	as_pg setsid bash -c 'exec "$0" "$@" </dev/null >>"'"$logf"'" 2>&1' "$PG_BIN/postgres" -D "$(pg_data)" $opts </dev/null >/dev/null 2>&1 9>&- &
	local launcher=$!
	if ! wait_pg_ready "$launcher"; then
		log "postgres: server exited or did not answer within ${READY_TIMEOUT}s; log tail:"
		tail -c +"$((offset + 1))" "$logf" 2>/dev/null | tail -n 40 >&2 || true
		if pid="$(pg_pid)"; then kill -KILL "$pid" 2>/dev/null || true; fi
		exit 1
	fi
	pg_create_role
	log "postgres: ready (pid $(pg_pid || echo '?'), port $port, socket dir $sockdir)"
}

# wait_pg_ready PID: like wait_ready, for postgres.
wait_pg_ready() {
	local pid="$1" deadline
	deadline=$((SECONDS + READY_TIMEOUT))
	while ((SECONDS < deadline)); do
		if pg_pid >/dev/null && pg_ping; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null && ! pg_pid >/dev/null; then
			sleep 1
			pg_pid >/dev/null || return 1
		fi
		sleep 0.2
	done
	return 1
}

pg_create_role() {
	pg_psql -d postgres <<SQL >/dev/null || die "postgres: could not create role $USER_NAME"
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_NAME') THEN
    CREATE ROLE $USER_NAME LOGIN CREATEDB PASSWORD '$USER_PASSWORD';
  ELSE
    ALTER ROLE $USER_NAME LOGIN CREATEDB PASSWORD '$USER_PASSWORD';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $USER_NAME' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
SQL
}

pg_stop() {
	local pid
	if ! pid="$(pg_pid)"; then
		log "postgres: not running"
		return 0
	fi
	log "postgres: stopping (pid $pid)"
	# SIGINT is PostgreSQL's fast shutdown: roll back open transactions,
	# write a checkpoint, exit.
	kill -INT "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "postgres: still running after 60s, sending SIGQUIT to $pid"
			kill -QUIT "$pid" 2>/dev/null || true
			deadline=$((SECONDS + 10))
		fi
		sleep 0.1
	done
	log "postgres: stopped"
}

# ---------------------------------------------------------------- commands

resolve_names() {
	# resolve_names DEFAULT... -- ARGS...: expands "all", validates names.
	local defaults=() args=() seen_sep=0 a
	for a in "$@"; do
		if [[ $seen_sep == 0 ]]; then
			if [[ "$a" == -- ]]; then seen_sep=1; else defaults+=("$a"); fi
		else
			args+=("$a")
		fi
	done
	((${#args[@]})) || args=("${defaults[@]}")
	NAMES=()
	for a in "${args[@]}"; do
		if [[ "$a" == all ]]; then
			NAMES+=("${ALL_SERVERS[@]}")
		elif valid_name "$a"; then
			NAMES+=("$a")
		else
			die "unknown server '$a' (expected upstream, downstream, replica or all)"
		fi
	done
}

need_binaries() {
	MARIADBD="$(find_bin mariadbd mysqld)" || die "mariadbd not found; run: testenv/env.sh install"
	CLIENT="$(find_bin mariadb mysql)" || die "mariadb client not found; run: testenv/env.sh install"
	ADMIN="$(find_bin mariadb-admin mysqladmin)" || die "mariadb-admin not found; run: testenv/env.sh install"
	INSTALL_DB="$(find_bin mariadb-install-db mysql_install_db)" || die "mariadb-install-db not found; run: testenv/env.sh install"
}

lock() {
	mkdir -p "$ROOT"
	exec 9>"$ROOT/.lock"
	flock 9
}

cmd_start() {
	resolve_names upstream downstream -- "$@"
	local n
	for n in "${NAMES[@]}"; do
		if [[ "$n" != postgres ]]; then
			need_binaries
			break
		fi
	done
	lock
	for n in "${NAMES[@]}"; do
		if serves_tls "$n"; then ensure_tls; fi
	done
	for n in "${NAMES[@]}"; do
		if [[ "$n" == postgres ]]; then pg_start; else start_one "$n"; fi
	done
}

cmd_stop() {
	resolve_names "${ALL_SERVERS[@]}" -- "$@"
	[[ -d "$ROOT" ]] || return 0
	ADMIN="$(find_bin mariadb-admin mysqladmin || echo false)"
	lock
	local n
	for n in "${NAMES[@]}"; do
		if [[ "$n" == postgres ]]; then pg_stop; else stop_one "$n"; fi
	done
}

cmd_status() {
	ADMIN="$(find_bin mariadb-admin mysqladmin || echo false)"
	local n pid state
	for n in "${ALL_SERVERS[@]}"; do
		if [[ "$n" == postgres ]]; then
			if pid="$(pg_pid)"; then
				printf '%-10s running port %s pid %s\n' "$n" "$(pg_current_port)" "$pid"
			else
				printf '%-10s stopped port %s\n' "$n" "$(port_of postgres)"
			fi
			continue
		fi
		if pid="$(pid_of "$n")"; then
			if ping_server "$n"; then state=running; else state="running (not answering)"; fi
			printf '%-10s %s port %s pid %s\n' "$n" "$state" "$(current_port "$n")" "$pid"
		else
			printf '%-10s stopped port %s\n' "$n" "$(current_port "$n")"
		fi
	done
}

# cmd_signal SIGNAL NAME sends SIGSTOP or SIGCONT to a MariaDB server of
# this testenv (found by its pid file, never by name): a server that keeps
# its connections open and answers nothing.
cmd_signal() {
	local sig="$1" name="${2:-}" pid
	valid_name "$name" || die "unknown server '$name'"
	[[ "$name" != postgres ]] || die "freeze and thaw are for the MariaDB servers"
	pid="$(pid_of "$name")" || die "$name is not running"
	kill "-$sig" "$pid"
	log "$name: sent SIG$sig to pid $pid"
}

cmd_reset() {
	cmd_stop "${ALL_SERVERS[@]}"
	local n
	for n in "${MARIADB_SERVERS[@]}"; do
		local sock
		sock="$(socket_of "$n")"
		case "$sock" in /tmp/binflow-testenv-*) rm -rf "$(dirname "$sock")" ;; esac
	done
	case "$(pg_socket_dir)" in /tmp/binflow-testenv-*) rm -rf "$(pg_socket_dir)" ;; esac
	rm -rf "$ROOT"
	log "removed $ROOT"
}

cmd_sql() {
	(($# >= 1)) || die "usage: env.sh sql NAME [mariadb args...]"
	local name="$1"
	shift
	valid_name "$name" || die "unknown server '$name'"
	[[ "$name" != postgres ]] || die "postgres is not MariaDB; run: testenv/env.sh psql"
	need_binaries
	[[ -f "$(cnf_of "$name")" ]] || die "$name has never been started; run: testenv/env.sh start $name"
	exec "$CLIENT" --defaults-file="$(cnf_of "$name")" "$@"
}

cmd_replica_from() {
	(($# == 2)) || die "usage: env.sh replica-from BINLOG_FILE POSITION"
	local file="$1" pos="$2"
	[[ "$file" =~ ^[A-Za-z0-9._-]+$ ]] || die "invalid binlog file name '$file'"
	[[ "$pos" =~ ^[0-9]+$ ]] || die "invalid binlog position '$pos'"
	need_binaries
	ping_server replica || die "replica is not running; run: testenv/env.sh start replica"
	local up
	up="$(current_port upstream)"
	client replica -e "STOP SLAVE; RESET SLAVE ALL;
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$up, MASTER_USER='$USER_NAME', MASTER_PASSWORD='$USER_PASSWORD', MASTER_LOG_FILE='$file', MASTER_LOG_POS=$pos, MASTER_USE_GTID=no;
START SLAVE;"
	log "replica: replicating from 127.0.0.1:$up at $file:$pos"
}

cmd_env() {
	local n upper
	for n in "${MARIADB_SERVERS[@]}"; do
		upper="$(echo "$n" | tr '[:lower:]' '[:upper:]')"
		echo "export BINFLOW_${upper}_PORT=$(current_port "$n")"
		echo "export BINFLOW_${upper}_SOCKET=$(socket_of "$n")"
	done
	echo "export BINFLOW_POSTGRES_PORT=$(pg_current_port)"
	echo "export BINFLOW_POSTGRES_SOCKET_DIR=$(pg_socket_dir)"
	echo "export BINFLOW_TESTENV_USER=$USER_NAME"
	echo "export BINFLOW_TESTENV_PASSWORD=$USER_PASSWORD"
	echo "export BINFLOW_TESTENV_TLS_USER=$TLS_USER_NAME"
	echo "export BINFLOW_TESTENV_X509_USER=$X509_USER_NAME"
	echo "export BINFLOW_TESTENV_TLS_DIR=$TLS_DIR"
}

cmd_psql() {
	PG_BIN="$(pg_bindir)" || die "PostgreSQL not found; run: testenv/env.sh install"
	PG_USER="$(pg_os_user)"
	pg_pid >/dev/null || die "postgres is not running; run: testenv/env.sh start postgres"
	pg_psql -d "$PG_DB" "$@"
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

# cmd_install_chromium installs Debian's chromium, which the status page
# test drives headless; nothing when it is there.
cmd_install_chromium() {
	if [[ -x /usr/bin/chromium ]]; then
		log "chromium already installed (/usr/bin/chromium)"
		return 0
	fi
	if [[ "$(id -u)" != 0 ]]; then
		die "chromium is not installed and installing it needs root: apt-get install chromium"
	fi
	command -v apt-get >/dev/null 2>&1 || die "chromium is not installed and apt-get is not available"
	log "installing chromium from Debian packages"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
	[[ -x /usr/bin/chromium ]] || die "chromium package installed but /usr/bin/chromium not found"
	log "chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
}

main() {
	local cmd="${1:-}"
	(($#)) && shift
	case "$cmd" in
	install) cmd_install "$@" ;;
	install-chromium) cmd_install_chromium "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	reset) cmd_reset "$@" ;;
	freeze) cmd_signal STOP "$@" ;;
	thaw) cmd_signal CONT "$@" ;;
	sql) cmd_sql "$@" ;;
	replica-from) cmd_replica_from "$@" ;;
	psql) cmd_psql "$@" ;;
	env) cmd_env "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
