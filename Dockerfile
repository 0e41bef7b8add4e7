# dreamflow on an NVIDIA GPU with the default engine, ONNX Runtime: its CUDA provider (ORT 1.30)
# is built against CUDA 12 and cuDNN 9, so the base image carries those runtimes.
#   docker build -t dreamflow .
#   docker run --gpus all -v "$PWD:/work" -w /work dreamflow video in.mp4 -o out.mp4 --device cuda
# The alternative engine, @tensorflow/tfjs-node-gpu 4.22 (--backend tensorflow), loads libtensorflow
# 2.9.1 for CUDA 11.2 and cuDNN 8: it needs a CUDA 11.2 base instead (README, "Engines").
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04

ARG NODE_VERSION=20.18.1
ARG ONNXRUNTIME_NODE_VERSION=1.30.0
ENV DEBIAN_FRONTEND=noninteractive

# Node 20 (the official build runs on Ubuntu 20.04's glibc) and ffmpeg for decoding and encoding.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl xz-utils ffmpeg \
 && curl -fsSL "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz" \
    | tar -xJ -C /usr/local --strip-components=1 \
 && apt-get purge -y curl xz-utils && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/dreamflow
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY bench ./bench
COPY models ./models
COPY pipelines ./pipelines
COPY samples ./samples

# Build (the prepare script compiles TypeScript; ONNXRUNTIME_NODE_INSTALL=skip keeps onnxruntime-node's
# install script offline where npm runs it),
# drop the dev tools, then fetch ONNX Runtime's CUDA 12 provider libraries (this build has internet).
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund \
 && npm prune --omit=dev \
 && test "$(node -p "require('onnxruntime-node/package.json').version")" = "${ONNXRUNTIME_NODE_VERSION}" \
 && ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
 && npm cache clean --force \
 && ln -s /opt/dreamflow/bin/dreamflow.js /usr/local/bin/dreamflow

# Run as an unprivileged user; weights are fetched once into its cache (mount a volume to keep them,
# or mount a folder of weights and set DREAMFLOW_WEIGHTS).
RUN useradd --create-home --uid 10001 dreamflow && mkdir -p /home/dreamflow/.cache/dreamflow && chown -R dreamflow /home/dreamflow/.cache
USER dreamflow
ENV NODE_ENV=production FFMPEG_PATH=/usr/bin/ffmpeg FFPROBE_PATH=/usr/bin/ffprobe DREAMFLOW_HEALTH_FILE=/tmp/dreamflow-live.json
VOLUME ["/home/dreamflow/.cache/dreamflow"]
EXPOSE 8080

# For `live`: healthy while the server answers /healthz, on whatever --port it listens (dreamflow
# live writes its health URL to $DREAMFLOW_HEALTH_FILE). Batch jobs: docker run --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch(JSON.parse(require('fs').readFileSync(process.env.DREAMFLOW_HEALTH_FILE, 'utf8')).healthz).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["dreamflow"]
CMD ["--help"]
