#!/usr/bin/env bash
# Apache Kafka for tests and local use: a single-node KRaft broker+controller under .ops/kafka
# on 127.0.0.1. Jars come from Maven Central (ops/kafka/pom.xml), not an Apache tarball.
source "$(dirname "$0")/lib.sh"

PORT="${STACKLEDGER_KAFKA_PORT:-59092}"
CONTROLLER_PORT="${STACKLEDGER_KAFKA_CONTROLLER_PORT:-59093}"
DIR="$(state_dir kafka)"
LIB="$DIR/lib"
POM="$REPO_ROOT/ops/kafka/pom.xml"
CLUSTER_ID=U3RhY2tMZWRnZXJLYWZrYQ  # base64url("StackLedgerKafka"): fixed so re-formatting is stable

pom_stamp() { sha256sum "$POM" | cut -d' ' -f1; }

install() {
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
  # The stamp ties the jars to the pom: edit the pom (e.g. bump kafka.version) and they are refetched.
  if [[ -f "$LIB/.pom.sha256" && "$(cat "$LIB/.pom.sha256")" == "$(pom_stamp)" ]]; then return 0; fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
  log "kafka: fetching broker jars from Maven Central (log: $DIR/mvn.log)"
  rm -rf "$LIB.tmp"
  # Copy into a temp dir and rename, so an interrupted download never looks like a cached install.
  mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIB.tmp" >"$DIR/mvn.log" 2>&1 \
    || { tail -n 30 "$DIR/mvn.log" >&2; die "maven could not fetch the kafka jars"; }
  pom_stamp >"$LIB.tmp/.pom.sha256"
  rm -rf "$LIB" && mv "$LIB.tmp" "$LIB"
}

write_config() {  # regenerated on every start so port overrides take effect
  cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
auto.create.topics.enable=true
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# After a crash (kill -9) the controller refuses to re-register broker 1 until the old session
# expires; the default 9 s session made every restart after a crash ~14 s.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
PROPS
}

# The JVM command for any Kafka main class, on the Maven-fetched classpath.
JAVA_CMD=(java -Xmx512m -Xms128m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$REPO_ROOT/ops/kafka/log4j.properties" -cp "$LIB/*")

wait_started() {  # the port opens before the broker is unfenced; the log line comes after
  local i
  for ((i = 0; i < 300; i++)); do
    pid_alive "$DIR/pid" || { tail -n 30 "$DIR/log" >&2; die "kafka exited during startup (log: $DIR/log)"; }
    grep -q 'Kafka Server started' "$DIR/log" && return 0
    sleep 0.2
  done
  die "kafka did not report 'Kafka Server started' within 60s (log: $DIR/log)"
}

start() {
  install
  if pid_alive "$DIR/pid"; then
    grep -qx "listeners=PLAINTEXT://127.0.0.1:$PORT,.*" "$DIR/server.properties" \
      || die "kafka is already running on another port; run '$0 stop' first"
    log "kafka already running"
  else
    (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "127.0.0.1:$PORT is taken by a process we did not start"
    write_config
    if [[ ! -f "$DIR/data/meta.properties" ]]; then
      "${JAVA_CMD[@]}" kafka.tools.StorageTool format --ignore-formatted -t "$CLUSTER_ID" \
        -c "$DIR/server.properties" >"$DIR/format.log" 2>&1 \
        || { cat "$DIR/format.log" >&2; die "kafka storage format failed"; }
    fi
    [[ -f "$DIR/log" ]] && mv "$DIR/log" "$DIR/log.1"  # keep one previous run; wait_started greps a fresh log
    # setsid: own session, so a Ctrl-C or hang-up in the caller's terminal does not reach the broker.
    # The sh wrapper records its own PID and then execs java, so the PID file names the JVM itself.
    rm -f "$DIR/pid"
    # shellcheck disable=SC2016  # $$ and $@ are for the inner sh
    setsid sh -c 'echo $$ >"$0"; exec "$@"' "$DIR/pid" \
      "${JAVA_CMD[@]}" kafka.Kafka "$DIR/server.properties" </dev/null >"$DIR/log" 2>&1 &
    for _ in {1..50}; do [[ -s "$DIR/pid" ]] && break; sleep 0.1; done
    wait_started
    wait_port "$PORT" 10 kafka
  fi
  write_env kafka "STACKLEDGER_KAFKA_BOOTSTRAP=127.0.0.1:$PORT"
  log "kafka ready on 127.0.0.1:$PORT"
}

stop() { stop_pidfile "$DIR/pid" kafka; }

status() { pid_alive "$DIR/pid" && echo "kafka running (pid $(cat "$DIR/pid"))" || echo "kafka stopped"; }

"${1:-status}"
