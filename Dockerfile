FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY palaver ./palaver
RUN pip install --no-cache-dir --prefix=/install ".[postgres,sqlite,redis,kafka,rabbitmq,aws]"

FROM python:3.11-slim
RUN useradd --create-home --uid 1001 palaver
COPY --from=build /install /usr/local
USER palaver
WORKDIR /app
EXPOSE 5005
ENTRYPOINT ["palaver"]
CMD ["run", "-m", "models", "--enable-api", "--endpoints", "endpoints.yml"]
