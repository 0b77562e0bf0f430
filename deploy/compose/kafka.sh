#!/bin/sh
# The Compose stack's Kafka, secured as a production cluster is: every client listener speaks
# SASL_SSL with SCRAM-SHA-512 (docs/security.md). Run as the kafka service's command, in place
# of the image's own start-up script:
#
# 1. TLS, made once and kept in the volume at /etc/kafka/secrets: a CA of this stack, and the
#    broker's key and certificate for the names clients connect to (kafka in the Compose
#    network, localhost from the host). The CA's certificate is copied to /mnt/shared/config,
#    the volume the gateway services mount (GATEWAY_KAFKA__SSL_CAFILE); keys never leave here.
# 2. server.properties from the service's KAFKA_* variables (KAFKA_LOG_DIRS -> log.dirs; `__`
#    stands for `_` and `___` for `-`), plus the lines that carry passwords, read from files.
# 3. The storage is formatted with the two SCRAM users, the broker's own (for the
#    inter-broker listener; its password is made here) and the gateway's (the Compose secret
#    GATEWAY_KAFKA__SASL_PASSWORD), then the broker starts.
#
# Passwords are letters, digits and dashes (e.g. `openssl rand -hex 24`): they are written into JAAS
# and SCRAM strings as they are. A changed gateway password takes a new container
# (`docker compose up -d --force-recreate kafka`): the users are created with the storage.
set -eu

secrets=/etc/kafka/secrets
shared=/mnt/shared/config
config=/opt/kafka/config/server.properties
client=/opt/kafka/config/client.properties
user=wawp-gateway

random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

if [ ! -s "$secrets/kafka.p12" ]; then
  echo "===> making the stack's CA and the broker's certificate"
  store=$(random)
  work=$(mktemp -d)
  keytool -genkeypair -noprompt -alias ca -keyalg RSA -keysize 3072 -validity 3650 \
    -dname "CN=wawp-gateway compose CA" -ext bc:c -ext ku:c=keyCertSign,cRLSign \
    -keystore "$work/ca.p12" -storetype PKCS12 -storepass "$store"
  keytool -exportcert -rfc -alias ca -keystore "$work/ca.p12" -storepass "$store" \
    -file "$work/ca.crt"
  keytool -genkeypair -noprompt -alias kafka -keyalg RSA -keysize 3072 -validity 825 \
    -dname "CN=kafka" -keystore "$work/kafka.p12" -storetype PKCS12 -storepass "$store"
  keytool -certreq -alias kafka -keystore "$work/kafka.p12" -storepass "$store" \
    -file "$work/kafka.csr"
  keytool -gencert -rfc -alias ca -keystore "$work/ca.p12" -storepass "$store" \
    -infile "$work/kafka.csr" -outfile "$work/kafka.crt" -validity 825 \
    -ext SAN=dns:kafka,dns:localhost -ext ku:c=digitalSignature,keyEncipherment \
    -ext eku=serverAuth,clientAuth
  keytool -importcert -noprompt -alias ca -file "$work/ca.crt" \
    -keystore "$work/kafka.p12" -storepass "$store"
  keytool -importcert -noprompt -alias kafka -file "$work/kafka.crt" \
    -keystore "$work/kafka.p12" -storepass "$store"
  printf '%s' "$store" > "$secrets/keystore.password"
  random > "$secrets/broker.password"
  cp "$work/ca.crt" "$secrets/ca.crt"
  mv "$work/kafka.p12" "$secrets/kafka.p12"
  # The CA's key is not kept: a new certificate comes with a new CA (delete the volume).
  rm -rf "$work"
  chmod 600 "$secrets/kafka.p12" "$secrets/keystore.password" "$secrets/broker.password"
fi
cp "$secrets/ca.crt" "$shared/ca.crt"
chmod 644 "$shared/ca.crt"

store=$(cat "$secrets/keystore.password")
broker=$(cat "$secrets/broker.password")
gateway=$(cat /run/secrets/GATEWAY_KAFKA__SASL_PASSWORD)
scram=org.apache.kafka.common.security.scram.ScramLoginModule

env | sed -n 's/^KAFKA_\([A-Z0-9_]*\)=\(.*\)$/\1=\2/p' | while IFS='=' read -r name value; do
  key=$(printf '%s' "$name" | tr 'A-Z' 'a-z' | sed 's/___/-/g; s/__/@/g; s/_/./g; s/@/_/g')
  printf '%s=%s\n' "$key" "$value"
done > "$config"
cat >> "$config" <<EOF
ssl.keystore.type=PKCS12
ssl.keystore.location=$secrets/kafka.p12
ssl.keystore.password=$store
ssl.key.password=$store
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/ca.crt
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram required username="broker" password="$broker";
listener.name.host.scram-sha-512.sasl.jaas.config=$scram required username="broker" password="$broker";
EOF

# What the healthcheck logs in with (kafka-broker-api-versions.sh --command-config).
cat > "$client" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$scram required username="broker" password="$broker";
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/ca.crt
EOF

/opt/kafka/bin/kafka-storage.sh format --config "$config" --cluster-id "$CLUSTER_ID" \
  --ignore-formatted \
  --add-scram "SCRAM-SHA-512=[name=broker,password=$broker]" \
  --add-scram "SCRAM-SHA-512=[name=$user,password=$gateway]"
exec /opt/kafka/bin/kafka-server-start.sh "$config"
