{{/*
Names, labels, images and the pieces shared by the gateway's and the sandbox's workloads.
*/}}

{{- define "mcp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mcp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A derived name: (dict "root" . "suffix" "sandbox"). */}}
{{- define "mcp.componentName" -}}
{{- printf "%s-%s" (include "mcp.fullname" .root | trunc (int (sub 62 (len .suffix)))) .suffix | trimSuffix "-" -}}
{{- end -}}

{{- define "mcp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of every resource: (dict "root" . "component" "gateway"). */}}
{{- define "mcp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mcp.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: mcp-gateway
app: {{ include "mcp.appLabel" . }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The operations guide's `app` label: (dict "root" . "component" "gateway"|"sandbox"). */}}
{{- define "mcp.appLabel" -}}
{{- if eq .component "sandbox" -}}
{{- .root.Values.sandbox.appLabel -}}
{{- else if eq .component "audit-export" -}}
{{- printf "%s-audit-export" .root.Values.gateway.appLabel | trunc 63 -}}
{{- else -}}
{{- .root.Values.gateway.appLabel -}}
{{- end -}}
{{- end -}}

{{/* Whether the sandbox listens on TCP (separate, or a tcp sidecar) and so needs the token. */}}
{{- define "mcp.sandboxTcp" -}}
{{- if or (eq .Values.topology "separate") (eq .Values.sandbox.sidecarListen "tcp") -}}true{{- end -}}
{{- end -}}

{{/* The Secret holding every API key file (one Secret, mounted as the key directory). */}}
{{- define "mcp.apiKeysSecretName" -}}
{{- default (include "mcp.componentName" (dict "root" . "suffix" "api-keys")) .Values.apiKeys.secretName -}}
{{- end -}}

{{/* repository:tag or repository@digest: (dict "root" . "image" .Values.gateway.image). */}}
{{- define "mcp.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "mcp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mcp.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mcp.sandboxServiceName" -}}
{{- include "mcp.componentName" (dict "root" . "suffix" "sandbox") -}}
{{- end -}}

{{- define "mcp.sessionSecretName" -}}
{{- default (include "mcp.componentName" (dict "root" . "suffix" "session")) .Values.session.existingSecret -}}
{{- end -}}

{{- define "mcp.sandboxTokenSecretName" -}}
{{- default (include "mcp.componentName" (dict "root" . "suffix" "sandbox-token")) .Values.sandbox.auth.existingSecret -}}
{{- end -}}

{{/* The sandbox token volume (separate topology: gateway and sandbox mount the same Secret). */}}
{{- define "mcp.sandboxTokenVolume" -}}
- name: sandbox-token
  secret:
    secretName: {{ include "mcp.sandboxTokenSecretName" . }}
    items:
      - key: {{ .Values.sandbox.auth.secretKey }}
        path: token
{{- end -}}

{{/* Whether the gateway and the sandbox speak mutual TLS (sandbox.mtls; topology separate). */}}
{{- define "mcp.sandboxMtls" -}}
{{- if .Values.sandbox.mtls.enabled -}}
{{- if ne .Values.topology "separate" -}}
{{- fail "sandbox.mtls.enabled needs topology: separate (a sidecar is reached on loopback or a unix socket inside the pod)" -}}
{{- end -}}
{{- if not .Values.sandbox.mtls.secretName -}}
{{- fail "sandbox.mtls.enabled needs sandbox.mtls.secretName: a Secret with ca.crt, tls.crt, tls.key, client.crt and client.key" -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{/* The name the sandbox's certificate is checked against. */}}
{{- define "mcp.sandboxServerName" -}}
{{- default (printf "%s.%s.svc" (include "mcp.sandboxServiceName" .) .Release.Namespace) .Values.sandbox.mtls.serverName -}}
{{- end -}}

{{/* The gateway's sandboxes[].tls block (empty without mTLS). */}}
{{- define "mcp.gatewaySandboxTls" -}}
{{- if include "mcp.sandboxMtls" . -}}
tls:
  ca_file: /etc/mcp/sandbox-mtls/ca.crt
  client_cert_file: /etc/mcp/sandbox-mtls/client.crt
  client_key_file: /etc/mcp/sandbox-mtls/client.key
  server_name: {{ include "mcp.sandboxServerName" . | quote }}
{{- end -}}
{{- end -}}

{{/* A projection of the mTLS Secret: `files` are the keys this container gets. */}}
{{- define "mcp.sandboxMtlsVolume" -}}
- name: sandbox-mtls
  secret:
    secretName: {{ .root.Values.sandbox.mtls.secretName }}
    items:
      {{- range .files }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end -}}

{{/* Whether the gateway gets a session key file. */}}
{{- define "mcp.hasSessionSecret" -}}
{{- if or .Values.session.existingSecret .Values.session.generate -}}true{{- end -}}
{{- end -}}

{{- define "mcp.gatewayScheme" -}}
{{- if .Values.tls.enabled -}}https{{- else -}}http{{- end -}}
{{- end -}}

{{/* The gateway's listen address: IPv6 addresses in brackets. */}}
{{/* The gateway's admin listen address (same bind address, adminPort). */}}
{{- define "mcp.adminListen" -}}
{{- $addr := .Values.gateway.listenAddress -}}
{{- if contains ":" $addr -}}
{{- printf "[%s]:%d" $addr (int .Values.gateway.adminPort) -}}
{{- else -}}
{{- printf "%s:%d" $addr (int .Values.gateway.adminPort) -}}
{{- end -}}
{{- end -}}

{{- define "mcp.listen" -}}
{{- $addr := .Values.gateway.listenAddress -}}
{{- if contains ":" $addr -}}
{{- printf "[%s]:%d" $addr (int .Values.gateway.port) -}}
{{- else -}}
{{- printf "%s:%d" $addr (int .Values.gateway.port) -}}
{{- end -}}
{{- end -}}

{{/*
The environment variable Kubernetes sets in every pod for the sandbox Service's cluster IP (the
gateway's config takes IP:PORT, not host names).
*/}}
{{- define "mcp.sandboxHostEnv" -}}
{{- printf "%s_SERVICE_HOST" (include "mcp.sandboxServiceName" . | upper | replace "-" "_") -}}
{{- end -}}

{{/* The policy file's text: inline, or the repository's copy in files/. */}}
{{- define "mcp.policy" -}}
{{- if .Values.policy -}}
{{- .Values.policy -}}
{{- else -}}
{{- .Files.Get "files/policies/access.yaml" -}}
{{- end -}}
{{- end -}}

{{/* The tool set manifests as ConfigMap data: the chart's files, then the values' changes. */}}
{{- define "mcp.toolsets" -}}
{{- $sets := dict -}}
{{- range $path, $_ := .Files.Glob "files/policies/toolsets/*.yaml" -}}
{{- $_ := set $sets (base $path) ($.Files.Get $path) -}}
{{- end -}}
{{- range $name, $text := .Values.toolsets -}}
{{- if $text -}}
{{- $_ := set $sets $name $text -}}
{{- else -}}
{{- $_ := unset $sets $name -}}
{{- end -}}
{{- end -}}
{{- range $name := keys $sets | sortAlpha }}
{{ $name }}: |
{{ get $sets $name | trimSuffix "\n" | indent 2 }}
{{- end -}}
{{- end -}}

{{/* A duration of one unit ("30s", "5m", "1h") in seconds; -1 for any other form (the checks
that need it are then skipped; the gateway itself validates every duration at start). */}}
{{- define "mcp.seconds" -}}
{{- $v := toString . -}}
{{- if regexMatch "^[0-9]+s$" $v -}}{{- trimSuffix "s" $v -}}
{{- else if regexMatch "^[0-9]+m$" $v -}}{{- mul (trimSuffix "m" $v | int) 60 -}}
{{- else if regexMatch "^[0-9]+h$" $v -}}{{- mul (trimSuffix "h" $v | int) 3600 -}}
{{- else -}}-1{{- end -}}
{{- end -}}

{{/* Fails the render on combinations that cannot work, naming the value to change. */}}
{{- define "mcp.validate" -}}
{{- if not (has .Values.topology (list "sidecar" "separate")) -}}
{{- fail (printf "topology: %q is not one of sidecar, separate" .Values.topology) -}}
{{- end -}}
{{- if and (eq .Values.topology "sidecar") (eq .Values.sandbox.sidecarListen "tcp") (eq (int .Values.sandbox.port) (int .Values.gateway.port)) -}}
{{- fail "sandbox.port: a tcp sidecar shares the pod with the gateway; use another port than gateway.port" -}}
{{- end -}}
{{- $server := .Values.gateway.config.server | default dict -}}
{{- $upstream := .Values.gateway.config.upstream | default dict -}}
{{- $grace := include "mcp.seconds" ($server.grace_period | default "1s") | int -}}
{{- $drain := include "mcp.seconds" ($server.shutdown_timeout | default "10s") | int -}}
{{- $exec := include "mcp.seconds" ($upstream.execute_timeout | default "30s") | int -}}
{{- if and (ge $grace 0) (ge $drain 0) (gt (add $grace $drain) (int .Values.gateway.terminationGracePeriodSeconds)) -}}
{{- fail (printf "gateway.terminationGracePeriodSeconds: %d is shorter than server.grace_period + shutdown_timeout (%ds): Kubernetes would kill requests still draining" (int .Values.gateway.terminationGracePeriodSeconds) (add $grace $drain)) -}}
{{- end -}}
{{- if and (ge $drain 0) (ge $exec 0) (lt $drain $exec) -}}
{{- fail (printf "gateway.config.server.shutdown_timeout: %ds is shorter than upstream.execute_timeout (%ds): a rolling update would cut the longest tool calls" $drain $exec) -}}
{{- end -}}
{{- if and .Values.gateway.adminPort (eq (int .Values.gateway.adminPort) (int .Values.gateway.port)) -}}
{{- fail "gateway.adminPort: use another port than gateway.port (or 0 to serve /metrics on it)" -}}
{{- end -}}
{{- if and (not .Values.apiKeys.enabled) (not .Values.oidc.enabled) -}}
{{- fail "enable apiKeys and/or oidc: the gateway never runs without authentication" -}}
{{- end -}}
{{- if and .Values.oidc.enabled (not .Values.oidc.config.issuer) -}}
{{- fail "oidc.config.issuer: set the issuer URL (e.g. https://sso.example.com/realms/mcp-realm)" -}}
{{- end -}}
{{- if and .Values.redis.enabled (not (or .Values.redis.url .Values.redis.existingSecret)) -}}
{{- fail "redis: set redis.url (redis://HOST:6379/0) or redis.existingSecret holding it" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.secretName: name the kubernetes.io/tls Secret holding tls.crt and tls.key" -}}
{{- end -}}
{{- range $k := list "listen" "tls" "sandboxes" "policy" "keys" "oidc" "session" "rate_limit_store" -}}
{{- if hasKey $.Values.gateway.config $k -}}
{{- fail (printf "gateway.config.%s is set by the chart; use the chart's own values for it (see values.yaml)" $k) -}}
{{- end -}}
{{- end -}}
{{- if .Values.route.enabled -}}
{{- if not (has .Values.route.termination (list "edge" "reencrypt" "passthrough")) -}}
{{- fail (printf "route.termination: %q is not one of edge, reencrypt, passthrough" .Values.route.termination) -}}
{{- end -}}
{{- if and (eq .Values.route.termination "edge") .Values.tls.enabled -}}
{{- fail "route.termination: edge sends plain HTTP to the gateway, which serves HTTPS (tls.enabled): use reencrypt or passthrough" -}}
{{- end -}}
{{- if and (ne .Values.route.termination "edge") (not .Values.tls.enabled) -}}
{{- fail (printf "route.termination: %s needs tls.enabled (the gateway must serve HTTPS itself)" .Values.route.termination) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod annotations that roll the pods when their configuration changes. */}}
{{- define "mcp.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap-gateway.yaml") . | sha256sum }}
checksum/policy: {{ include "mcp.policy" . | sha256sum }}
checksum/toolsets: {{ include "mcp.toolsets" . | sha256sum }}
{{- end -}}

{{/* Probes: the given probe, with HTTPS when the gateway serves TLS. */}}
{{- define "mcp.gatewayProbe" -}}
{{- $probe := deepCopy .probe -}}
{{- if and .root.Values.tls.enabled (hasKey $probe "httpGet") -}}
{{- $_ := set $probe.httpGet "scheme" "HTTPS" -}}
{{- end -}}
{{- toYaml $probe -}}
{{- end -}}

{{/* Volumes shared by the gateway and the sandbox. */}}
{{- define "mcp.policyVolume" -}}
- name: policy
  configMap:
    name: {{ include "mcp.componentName" (dict "root" . "suffix" "policy") }}
{{- end -}}

{{/* The sandbox's volumes (both topologies). */}}
{{- define "mcp.sandboxVolumes" -}}
- name: toolsets
  configMap:
    name: {{ include "mcp.componentName" (dict "root" . "suffix" "toolsets") }}
{{- with .Values.sandbox.modules.volume }}
- name: modules
  {{- toYaml . | nindent 2 }}
{{- end }}
- name: logs
  {{- toYaml (default (dict "emptyDir" (dict)) .Values.sandbox.logs.volume) | nindent 2 }}
- name: workspaces
{{- if .Values.persistence.workspaces.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (include "mcp.componentName" (dict "root" . "suffix" "workspaces")) .Values.persistence.workspaces.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: shared-skills
{{- if .Values.persistence.sharedSkills.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (include "mcp.componentName" (dict "root" . "suffix" "shared-skills")) .Values.persistence.sharedSkills.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: wasm-cache
  emptyDir:
    sizeLimit: {{ .Values.sandbox.cache.sizeLimit }}
- name: sandbox-tmp
  emptyDir:
    sizeLimit: 256Mi
{{- with .Values.sandbox.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The sandbox container (both topologies). With `topology: sidecar` it listens on the shared
socket; with `separate` on its TCP port, with probes.
*/}}
{{- define "mcp.sandboxContainer" -}}
{{- $s := .Values.sandbox -}}
{{- $sidecar := eq .Values.topology "sidecar" -}}
{{- $tcp := include "mcp.sandboxTcp" . -}}
{{- $portName := ternary "sandbox-http" "http" $sidecar -}}
- name: mcp-sandbox
  image: {{ include "mcp.image" (dict "root" . "image" $s.image) | quote }}
  imagePullPolicy: {{ $s.image.pullPolicy }}
  {{- if and $sidecar $s.nativeSidecar }}
  restartPolicy: Always
  {{- end }}
  args: [serve]
  env:
    - name: MCP_SANDBOX_LISTEN
      value: {{ if not $tcp }}{{ printf "unix:%s" $s.socketPath | quote }}{{ else }}{{ printf "0.0.0.0:%d" (int $s.port) | quote }}{{ end }}
    - name: MCP_SANDBOX_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: MCP_SANDBOX_TOOLSETS
      value: /etc/mcp/toolsets
    - name: MCP_SANDBOX_MODULES
      value: {{ $s.modules.path | quote }}
    - name: MCP_SANDBOX_POLICY
      value: /etc/mcp/policy/access.yaml
    - name: MCP_SANDBOX_WORKSPACES
      value: /var/lib/mcp/workspaces
    - name: MCP_SANDBOX_CACHE
      value: /var/cache/mcp-sandbox
    - name: MCP_SANDBOX_MAX_CONCURRENT
      value: {{ $s.maxConcurrent | quote }}
    - name: MCP_SANDBOX_MAX_QUEUE
      value: {{ $s.maxQueue | quote }}
    - name: MCP_SANDBOX_QUEUE_TIMEOUT
      value: {{ $s.queueTimeout | quote }}
    - name: MCP_SANDBOX_MAX_MEMORY
      value: {{ $s.maxMemory | quote }}
    - name: MCP_SANDBOX_MAX_BODY
      value: {{ $s.maxBody | quote }}
    {{- if and (gt (int $s.processes) 1) (not $tcp) }}
    {{- fail "sandbox.processes: worker processes share a TCP port; a unix socket cannot be shared (set sandbox.sidecarListen: tcp, or processes: 1)" }}
    {{- end }}
    # Worker processes sharing the port; maxConcurrent and maxQueue apply to each.
    - name: MCP_SANDBOX_PROCESSES
      value: {{ $s.processes | quote }}
    {{- if not $s.pooling }}
    - name: MCP_SANDBOX_NO_POOLING
      value: "true"
    {{- end }}
    - name: MCP_SANDBOX_LOG_FORMAT
      value: {{ $s.logFormat | quote }}
    # On SIGTERM the sandbox keeps serving while the gateway (same pod, or its clients) still
    # accepts calls (server.grace_period), then lets calls in flight finish (shutdown_timeout).
    - name: MCP_SANDBOX_DRAIN_DELAY
      value: {{ printf "%ds" (add1 (int (trimSuffix "s" (toString $.Values.gateway.config.server.grace_period)))) | quote }}
    - name: MCP_SANDBOX_SHUTDOWN_TIMEOUT
      value: {{ $.Values.gateway.config.server.shutdown_timeout | quote }}
    - name: RUST_LOG
      value: {{ $s.logLevel | quote }}
    # Host directories the log-analysis tool set mounts (policies/toolsets/log-analysis.yaml).
    - name: MCP_LOG_DIR
      value: {{ $s.logs.mountPath | quote }}
    - name: MCP_SHARED_SKILLS_DIR
      value: /var/lib/mcp/shared-skills
    {{- if $tcp }}
    - name: MCP_SANDBOX_AUTH_TOKEN_FILE
      value: /etc/mcp/sandbox-token/token
    {{- end }}
    {{- if include "mcp.sandboxMtls" . }}
    - name: MCP_SANDBOX_TLS_CERT
      value: /etc/mcp/sandbox-mtls/tls.crt
    - name: MCP_SANDBOX_TLS_KEY
      value: /etc/mcp/sandbox-mtls/tls.key
    - name: MCP_SANDBOX_TLS_CLIENT_CA
      value: /etc/mcp/sandbox-mtls/ca.crt
    {{- end }}
    {{- with $s.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if $tcp }}
  ports:
    # In a sidecar the gateway's container already has a port named http.
    - name: {{ $portName }}
      containerPort: {{ $s.port }}
      protocol: TCP
  {{- range $probe := list "startupProbe" "livenessProbe" "readinessProbe" }}
  {{- $p := deepCopy (index $s $probe) }}
  {{- if and (hasKey $p "httpGet") (eq (toString $p.httpGet.port) "http") }}
  {{- $_ := set $p.httpGet "port" $portName }}
  {{- end }}
  {{- if and (include "mcp.sandboxMtls" $) (hasKey $p "httpGet") }}
  {{- /* The kubelet has no client certificate: with mTLS the probe is a TCP check. */}}
  {{- $_ := set $p "tcpSocket" (dict "port" $p.httpGet.port) }}
  {{- $_ := unset $p "httpGet" }}
  {{- end }}
  {{ $probe }}:
    {{- toYaml $p | nindent 4 }}
  {{- end }}
  {{- end }}
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: toolsets
      mountPath: /etc/mcp/toolsets
      readOnly: true
    - name: policy
      mountPath: /etc/mcp/policy
      readOnly: true
    {{- if $tcp }}
    - name: sandbox-token
      mountPath: /etc/mcp/sandbox-token
      readOnly: true
    {{- end }}
    {{- if include "mcp.sandboxMtls" . }}
    - name: sandbox-mtls
      mountPath: /etc/mcp/sandbox-mtls
      readOnly: true
    {{- end }}
    {{- if $s.modules.volume }}
    - name: modules
      mountPath: {{ $s.modules.path }}
      readOnly: true
    {{- end }}
    - name: logs
      mountPath: {{ $s.logs.mountPath }}
      readOnly: true
    - name: workspaces
      mountPath: /var/lib/mcp/workspaces
    - name: shared-skills
      mountPath: /var/lib/mcp/shared-skills
    - name: wasm-cache
      mountPath: /var/cache/mcp-sandbox
    - name: sandbox-tmp
      mountPath: /tmp
    {{- if and $sidecar (not $tcp) }}
    - name: run
      mountPath: {{ dir $s.socketPath }}
    {{- end }}
    {{- with $s.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
Code mode over federated tools (docs/federation.md): with `topology: separate` and
`mcp_servers` in gateway.config, sandboxes send the calls programs make of upstream servers'
tools back to the gateway. "mcp.codeCallback" is non-empty when the chart sets where: the
admin port's Service (plain HTTP) if there is one, else the gateway's Service.
*/}}
{{- define "mcp.codeCallback" -}}
{{- $cfg := .Values.gateway.config -}}
{{- if and (eq .Values.topology "separate") (or $cfg.mcp_servers $cfg.upstream_servers) (not $cfg.code_callback_url) -}}
true
{{- end -}}
{{- end -}}

{{- define "mcp.codeCallbackPort" -}}
{{- if .Values.gateway.adminPort -}}{{ .Values.gateway.adminPort }}{{- else -}}{{ .Values.gateway.port }}{{- end -}}
{{- end -}}

{{- define "mcp.codeCallbackUrl" -}}
{{- if .Values.gateway.adminPort -}}
{{- printf "http://%s.%s.svc:%d" (include "mcp.componentName" (dict "root" . "suffix" "metrics")) .Release.Namespace (int .Values.gateway.adminPort) -}}
{{- else -}}
{{- printf "%s://%s.%s.svc:%d" (include "mcp.gatewayScheme" .) (include "mcp.fullname" .) .Release.Namespace (int .Values.gateway.service.port) -}}
{{- end -}}
{{- end -}}
