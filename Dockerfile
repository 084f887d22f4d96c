FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir .
EXPOSE 50051 50052 8081 8090
CMD ["paygrant", "up"]
