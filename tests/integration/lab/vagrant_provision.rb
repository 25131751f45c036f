# Loads the Vagrantfile with a recording stand-in for Vagrant's config object
# and prints each shell provisioner as JSON: [{"machine": ..., "script": ..., "args": ..., "box": ...}]
# ("box": the machine's own box, or nil when it takes config.vm.box).
require "json"

class Recorder
  attr_reader :scripts

  def initialize(scripts = [], machine = nil, boxes = {})
    @scripts = scripts
    @machine = machine
    @boxes = boxes
  end

  def boxes = @boxes

  def box=(value)
    @boxes[@machine] = value if @machine
  end

  def define(name, *_args, **_kw)
    yield Recorder.new(@scripts, name, @boxes)
  end

  def provision(_name, **kw)
    @scripts << { "machine" => @machine, "script" => kw[:inline], "args" => kw[:args] }
  end

  def method_missing(_name, *_args, **_kw)
    yield Recorder.new(@scripts, @machine, @boxes) if block_given?
    self
  end

  def respond_to_missing?(*) = true
end

module Vagrant
  def self.configure(_version)
    recorder = Recorder.new
    yield recorder
    puts JSON.generate(recorder.scripts.map { |item| item.merge("box" => recorder.boxes[item["machine"]]) })
  end
end

load ARGV.fetch(0)
