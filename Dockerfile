FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY --chown=app:app . .

# collectstatic needs settings but not a real secret.
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0

USER 10001:10001
EXPOSE 8000

# The web process; the scheduler runs the same image as `python manage.py qcluster` (docker-compose.yml).
# Threaded workers (config/gunicorn.py): WEB_CONCURRENCY processes of WEB_THREADS threads each.
CMD ["gunicorn", "config.wsgi:application", "--config", "python:config.gunicorn", "--bind", "0.0.0.0:8000"]
