#!/usr/bin/env python3
"""Generates a deterministic corpus of Kubernetes manifests for the `steady check` benchmark.

Each application is 4 objects (Deployment, Service, HorizontalPodAutoscaler, and a
PodDisruptionBudget or PodUnavailableBudget), 50 applications per namespace, one multi-document
file per namespace. Every fourth application carries typical mistakes (single replica, no probes,
preStop longer than the grace period, a budget that blocks drains, ...), so the rules have work.
The first N objects of a larger corpus are exactly a smaller corpus: the 10,000-object slice fed
to Checkov is the first 10,000 objects of the 100,000-object corpus.

With `--shape issue13` the mix is the one issue 13 measured: 40 % Deployments, 40 % Services,
10 % PodDisruptionBudgets, 10 % HorizontalPodAutoscalers (every application has a Deployment and
a Service; every fourth also an HPA, with minReplicas 1 when the application is one with mistakes,
and every fourth a PDB, one in two of those with minAvailable: 100 %), 80 applications per
namespace (200 objects per file).

usage: gen.py --objects 100000 --out DIR [--shape apps|issue13]
"""
import argparse
import os

APPS_PER_NS = 50


def deployment(ns, app, i):
    bad = i % 4 == 0
    replicas = "" if i % 3 else f"  replicas: {1 if bad else 3}\n"
    probes = "" if bad else (
        "          readinessProbe:\n"
        "            httpGet: {path: /ready, port: http}\n"
        "          livenessProbe:\n"
        "            httpGet: {path: /healthz, port: http}\n"
        "            failureThreshold: 6\n")
    prestop = 40 if bad else 10
    spread = "" if bad else (
        "      topologySpreadConstraints:\n"
        "        - maxSkew: 1\n"
        "          topologyKey: kubernetes.io/hostname\n"
        "          whenUnsatisfiable: ScheduleAnyway\n"
        "          labelSelector:\n"
        "            matchLabels:\n"
        f"              app: {app}\n")
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
  namespace: {ns}
  labels:
    app: {app}
    team: team-{i % 7}
spec:
{replicas}  minReadySeconds: {0 if bad else 10}
  progressDeadlineSeconds: 300
  selector:
    matchLabels:
      app: {app}
  template:
    metadata:
      labels:
        app: {app}
        team: team-{i % 7}
    spec:
      terminationGracePeriodSeconds: 45
{spread}      containers:
        - name: {app}
          image: registry.example.com/{app}:1.{i % 10}.0
          ports:
            - name: http
              containerPort: 8080
{probes}          lifecycle:
            preStop:
              sleep:
                seconds: {prestop}
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              memory: 256Mi
          env:
            - name: APP_NAME
              value: {app}
            - name: LOG_LEVEL
              value: info
"""


def service(ns, app, i):
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {app}
  namespace: {ns}
spec:
  selector:
    app: {app}
  ports:
    - name: http
      port: 80
      targetPort: http
"""


def hpa(ns, app, i):
    bad = i % 4 == 0
    return f"""apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {app}
  namespace: {ns}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {app}
  minReplicas: {1 if bad else 3}
  maxReplicas: 10
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 70
"""


def budget(ns, app, i):
    bad = i % 4 == 0
    if i % 2:
        return f"""apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {app}
  namespace: {ns}
spec:
  {"minAvailable: 100%" if bad else "maxUnavailable: 1"}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      app: {app}
"""
    return f"""apiVersion: policy.steady.dev/v1alpha1
kind: PodUnavailableBudget
metadata:
  name: {app}
  namespace: {ns}
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {app}
  {"maxUnavailable: 0" if bad else "maxUnavailable: 1"}
  unhealthyPodPolicy: AlwaysAllow
"""


def pdb(ns, app, i):
    return f"""apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {app}
  namespace: {ns}
spec:
  {"minAvailable: 100%" if i % 8 == 1 else "maxUnavailable: 1"}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      app: {app}
"""


def makers(shape, i):
    if shape == "apps":
        return (deployment, service, hpa, budget)
    extra = {0: (hpa,), 1: (pdb,)}.get(i % 4, ())
    return (deployment, service) + extra


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", choices=("apps", "issue13"), default="apps")
    a = ap.parse_args()
    per_ns = APPS_PER_NS if a.shape == "apps" else 80
    os.makedirs(a.out, exist_ok=True)
    made = 0
    i = 0
    docs_by_ns = {}
    while made < a.objects:
        ns = f"ns-{i // per_ns:04d}"
        app = f"app-{i:06d}"
        for make in makers(a.shape, i):
            if made == a.objects:
                break
            docs_by_ns.setdefault(ns, []).append(make(ns, app, i))
            made += 1
        i += 1
    for ns, docs in docs_by_ns.items():
        with open(os.path.join(a.out, f"{ns}.yaml"), "w") as f:
            f.write("---\n".join(docs))
    print(f"{made} objects in {len(docs_by_ns)} files under {a.out}")


if __name__ == "__main__":
    main()
