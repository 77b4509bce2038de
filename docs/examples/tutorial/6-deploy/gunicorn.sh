# gunicorn supervises the processes, uvicorn serves in each: pip install "carafe[gunicorn]".
# gunicorn reads no .env file: export its variables first.
set -a && . ./.env && set +a
exec gunicorn app:app --worker-class uvicorn_worker.UvicornWorker \
    --workers "${WORKERS:-4}" --bind "127.0.0.1:${PORT:-8000}" \
    --forwarded-allow-ips 127.0.0.1 --graceful-timeout 30 --max-requests 10000
