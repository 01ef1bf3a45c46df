"""Orchestration: servers, apps, deploy, plan, secrets; calls domain/, swarm/ and engine/."""
