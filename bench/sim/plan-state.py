#!/usr/bin/env python3
"""A cluster state for `steady plan --from-state`, shaped like
`kubectl get nodes,pods,deploy,sts,rs,hpa,pdb,podunavailablebudgets -A -o json`:
NODES nodes over 3 zones (110 pods each), WORKLOADS Deployments of REPLICAS pods in NAMESPACES
namespaces, each with its ReplicaSet and a PodDisruptionBudget (maxUnavailable 1), pods Ready
and spread round-robin over the nodes.

    python3 bench/sim/plan-state.py > /tmp/plan-state.json          # 500 nodes, 10,000 pods
    python3 bench/sim/plan-state.py NODES WORKLOADS REPLICAS NAMESPACES
"""
import json
import sys

nodes, workloads, replicas, namespaces = (int(a) for a in (sys.argv[1:] + [500, 1000, 10, 20][len(sys.argv) - 1:])[:4])
ready = {"type": "Ready", "status": "True"}
items = []
for i in range(nodes):
    items.append({"apiVersion": "v1", "kind": "Node",
                  "metadata": {"name": f"node-{i}", "labels": {
                      "kubernetes.io/hostname": f"node-{i}",
                      "topology.kubernetes.io/zone": "zone-" + "abc"[i % 3]}},
                  "status": {"allocatable": {"pods": "110"}, "conditions": [ready]}})
slot = 0
for w in range(workloads):
    ns, name = f"team-{w % namespaces}", f"app-{w}"
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{
        "name": "app", "image": "registry.example/app:1",
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080},
                           "initialDelaySeconds": 5, "periodSeconds": 5}}]}}
    items.append({"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": name, "namespace": ns},
                  "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template}})
    rs = f"{name}-5d8f7c"
    items.append({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": {"name": rs, "namespace": ns, "ownerReferences": [
                      {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": f"d{w}", "controller": True}]},
                  "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template}})
    items.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                  "metadata": {"name": name, "namespace": ns},
                  "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}}})
    for r in range(replicas):
        items.append({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": f"{rs}-{r:05d}", "namespace": ns, "labels": labels,
                                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                        "name": rs, "uid": f"r{w}", "controller": True}]},
                      "spec": {"nodeName": f"node-{slot % nodes}", "containers": [{"name": "app", "image": "registry.example/app:1"}]},
                      "status": {"phase": "Running", "conditions": [ready]}})
        slot += 1
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)
